/**
 * A gradient worker's loop, shared by its worker_threads and Web Worker entries: it builds a
 * replica of the run's network, then for each step the coordinator posts (shardMemory.ts) copies
 * the parameters in, computes the gradient of its rows (engine/shard.ts) and writes it to its
 * slot. It blocks in Atomics.wait between steps and returns when told to stop.
 */
import { Network, type RecurrentState } from '../engine/network';
import { gatherRows, shardGradient, type ShardPlan } from '../engine/shard';
import { Rng } from '../engine/random';
import { CMD, DIAGNOSE, RNG, RNG_OUT, doneWord, readyWord, shardViews, writeReport, type ShardInit } from './shardMemory';

const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** Worker k's replica of the run's network, or the one line saying why it could not be built (both transports). */
export function buildReplica(plan: ShardPlan, k: number): Network | { failure: string } {
  try {
    const net = new Network(plan.spec, plan.path === 'wasm-simd-f32' ? 'float32' : 'float64');
    if (net.params.size !== plan.paramSize) throw new Error(`worker ${k} built ${net.params.size} parameters, the run has ${plan.paramSize}`);
    return net;
  } catch (err) {
    return { failure: `gradient worker ${k} could not build its network: ${message(err)}` };
  }
}

export function serveShard(init: ShardInit): void {
  const { plan, index: k, rows } = init;
  const K = plan.workers;
  const v = shardViews(plan, init.buffers);
  const c = v.control;
  const P = plan.paramSize;
  const T = plan.T;
  const Bk = rows.end - rows.start;
  const H = plan.spec.hidden;
  const rng = new Rng(0);
  const built = buildReplica(plan, k);
  const net = built instanceof Network ? built : undefined;
  const failure = built instanceof Network ? undefined : built.failure;
  // The state of this worker's rows is a view of the run's state: the coordinator's resets,
  // checkpoints and resumes see and set the very numbers this worker carries.
  const rowsOf = (a: Float32Array | Float64Array) => (a.length > 0 ? a.subarray(rows.start * H, rows.end * H) : a);
  const state: RecurrentState = { batch: Bk, h: v.h.map(rowsOf), c: v.c.map(rowsOf) };
  const positions = T * Bk * plan.width;
  const input = plan.text ? new Int32Array(positions) : new Float64Array(positions);
  const target = plan.text ? new Int32Array(positions) : new Float64Array(positions);
  if (failure) writeReport(plan, v.reports, k, { error: failure });
  Atomics.store(c, readyWord(K, k), failure ? 2 : 1);
  Atomics.notify(c, readyWord(K, k));
  let seen = 0;
  for (;;) {
    Atomics.wait(c, CMD + k, seen);
    const step = Atomics.load(c, CMD + k);
    if (step < 0) return;
    if (step === seen) continue;
    seen = step;
    if (net) {
      try {
        net.params.data.set(v.params);
        gatherRows(v.input, T, plan.B, plan.width, rows, input);
        gatherRows(v.target, T, plan.B, plan.width, rows, target);
        const diagnose = Atomics.load(c, DIAGNOSE) === 1;
        rng.setState(Array.from(c.subarray(RNG, RNG + 4)));
        const r = shardGradient(net, state, input, target, T, plan.B, diagnose, rng, rows.start);
        if (k === 0) c.set(Int32Array.from(rng.getState()), RNG_OUT);
        v.grads.subarray(k * P, (k + 1) * P).set(net.params.grad);
        v.losses[k] = r.loss;
        writeReport(plan, v.reports, k, diagnose ? { saturation: r.saturation, flow: r.flow } : {});
      } catch (err) {
        writeReport(plan, v.reports, k, { error: `gradient worker ${k} failed: ${message(err)}` });
      }
    }
    Atomics.store(c, doneWord(K, k), step);
    Atomics.notify(c, doneWord(K, k));
  }
}
