/**
 * The coordinator's side of a run's gradient workers: it starts K workers over shared memory
 * (shardMemory.ts) and, each step, hands them the parameters, waits for all K, and adds their
 * gradients in the order 0..K-1 (engine/shard.ts). The coordinator keeps the master copy of the
 * parameters and of the optimizer: it clips and steps once and the workers copy the new
 * parameters in at their next step (one writer, nothing to keep in step across replicas, and
 * checkpoints and resume stay the single-worker ones).
 *
 * Host-neutral: `spawn` (a worker_threads Worker, or a Web Worker) is the caller's, and so is
 * noticing a worker whose thread ends: the host marks it dead in the control words (markDead), and
 * the step it was in fails with a message saying so instead of waiting forever. `release` frees
 * whatever the host started beside the workers.
 */
import type { FlowEntry, SaturationEntry } from '../protocol/config';
import type { Vec } from '../engine/linalg';
import { combineFlow, combineSaturation, endedMessage, shardRows, sumInOrder, type ShardedGradients, type ShardPlan, type ShardResult } from '../engine/shard';
import type { Rng } from '../engine/random';
import { allocateShardBuffers, CMD, DIAGNOSE, RNG, RNG_OUT, deadWord, doneWord, readReport, readyWord, shardViews, type ShardInit } from './shardMemory';

/** A started worker, as far as the pool needs it. */
export interface SpawnedWorker {
  terminate(): void;
}

/** How long the pool waits for a worker to build its network before the run falls back to one. */
const READY_MS = 120_000;

interface Report {
  error?: string;
  saturation?: SaturationEntry[];
  flow?: FlowEntry[];
}

export function startShards(plan: ShardPlan, spawn: (init: ShardInit) => SpawnedWorker, release: () => void = () => {}): ShardedGradients | { reason: string } {
  if (typeof SharedArrayBuffer !== 'function' || typeof Atomics !== 'object') return { reason: 'this host has no SharedArrayBuffer' };
  const K = plan.workers;
  const rows = shardRows(plan.B, K);
  const buffers = allocateShardBuffers(plan);
  const v = shardViews(plan, buffers);
  const c = v.control;
  const workers: SpawnedWorker[] = [];
  const stop = () => {
    for (let k = 0; k < workers.length; k++) {
      Atomics.store(c, CMD + k, -1);
      Atomics.notify(c, CMD + k);
      workers[k].terminate();
    }
    release();
  };
  const ended = (k: number) => Atomics.load(c, deadWord(K, k)) === 1;
  try {
    for (let k = 0; k < K; k++) workers.push(spawn({ plan, index: k, rows: rows[k], buffers }));
  } catch (err) {
    stop();
    return { reason: `gradient workers could not start: ${err instanceof Error ? err.message : String(err)}` };
  }
  for (let k = 0; k < K; k++) {
    if (Atomics.wait(c, readyWord(K, k), 0, READY_MS) === 'timed-out') {
      stop();
      return { reason: `gradient worker ${k} did not start within ${READY_MS / 1000} s` };
    }
    if (Atomics.load(c, readyWord(K, k)) !== 1) {
      const why = ended(k) ? `gradient worker ${k} ended before it started` : ((readReport(plan, v.reports, k) as Report).error ?? `gradient worker ${k} failed to start`);
      stop();
      return { reason: why };
    }
  }
  const P = plan.paramSize;
  const slots = rows.map((_, k) => v.grads.subarray(k * P, (k + 1) * P));
  let step = 0;
  let closed = false;
  return {
    workers: K,
    transport: 'shared-memory',
    state: { batch: plan.B, h: v.h, c: v.c },
    input: v.input,
    target: v.target,
    gradient(params: Vec, grad: Vec, diagnose: boolean, rng: Rng): ShardResult {
      if (closed) throw new Error('the gradient workers were stopped');
      v.params.set(params);
      c[DIAGNOSE] = diagnose ? 1 : 0;
      c.set(Int32Array.from(rng.getState()), RNG);
      step++;
      for (let k = 0; k < K; k++) {
        Atomics.store(c, CMD + k, step);
        Atomics.notify(c, CMD + k);
      }
      for (let k = 0; k < K; k++) {
        for (;;) {
          const done = Atomics.load(c, doneWord(K, k));
          if (done === step) break;
          if (ended(k)) {
            closed = true;
            stop();
            throw new Error(endedMessage(k, K));
          }
          Atomics.wait(c, doneWord(K, k), done);
        }
      }
      const reports = rows.map((_, k) => readReport(plan, v.reports, k) as Report);
      const failed = reports.find((r) => r.error);
      if (failed) throw new Error(failed.error);
      // Every worker drew the whole batch's masks; worker 0 left the generator where they end.
      rng.setState(Array.from(c.subarray(RNG_OUT, RNG_OUT + 4), (w) => w >>> 0));
      sumInOrder(slots, grad);
      let loss = 0;
      for (let k = 0; k < K; k++) loss += v.losses[k];
      return {
        loss,
        saturation: diagnose ? combineSaturation(reports.map((r) => r.saturation ?? []), rows.map((r) => r.end - r.start)) : [],
        flow: diagnose ? combineFlow(reports.map((r) => r.flow ?? [])) : [],
      };
    },
    close() {
      if (closed) return;
      closed = true;
      stop();
    },
  };
}
