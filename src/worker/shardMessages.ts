/**
 * A run's gradient workers over message passing, for hosts without SharedArrayBuffer (VS Code for
 * the web, whose page is not cross-origin isolated). The coordinator talks to K gradient workers
 * over K message ports; each step it sends worker k the parameters, its rows of the input, the
 * target and the carried state, the diagnose flag and the generator's state, and worker k replies
 * with what serveShard (shardHandler.ts) computes from the same numbers: its gradient, its share of
 * the loss, its rows' new state and its diagnostics (worker 0 also the generator's state after).
 * Arrays travel transferred, not copied. The coordinator writes the state rows back into the one
 * (B,H) array per layer the trainer resets, checkpoints and resumes, adds the gradients in the order
 * 0..K-1 and combines the diagnostics as shardPool.ts does: the same K gives the same bits as over
 * shared memory. A step is asynchronous here (the replies are messages), hence gradientAsync.
 *
 * Host-neutral: a port is anything with postMessage, addEventListener('message'), start and close
 * (worker_threads' MessagePort and the DOM's both are). Noticing a worker whose thread ends is the
 * host's: it calls ended(k), which fails the step in progress (or the next one) with one message.
 */
import type { FlowEntry, SaturationEntry } from '../protocol/config';
import type { Vec } from '../engine/linalg';
import { Network, type RecurrentState } from '../engine/network';
import { Rng } from '../engine/random';
import { buildReplica } from './shardHandler';
import { combineFlow, combineSaturation, endedMessage, gatherRows, shardGradient, shardRows, sumInOrder, type RowRange, type ShardedGradients, type ShardPlan, type ShardResult } from '../engine/shard';

/** The part of a MessagePort (worker_threads' or the DOM's) the transport uses. */
export interface ShardPort {
  postMessage(message: unknown, transfer: ArrayBuffer[]): void;
  /** The listener gets a MessageEvent (typed Event, as EventTarget declares it in both hosts). */
  addEventListener(type: 'message', listener: (event: Event) => void): void;
  start(): void;
  close(): void;
}

type Float = Float32Array | Float64Array;

/** Coordinator to gradient worker. */
export type ToShard =
  | { type: 'init'; plan: ShardPlan; index: number; rows: RowRange }
  | { type: 'step'; step: number; params: Float; input: Int32Array | Float64Array; target: Int32Array | Float64Array; h: Float[]; c: Float[]; diagnose: boolean; rng: number[] }
  | { type: 'stop' };

/** Gradient worker to coordinator: one reply per step. */
export type FromShard =
  | { type: 'result'; step: number; grad: Float; loss: number; h: Float[]; c: Float[]; saturation?: SaturationEntry[]; flow?: FlowEntry[]; rng?: number[] }
  | { type: 'error'; step: number; message: string };

/** The message transport's gradients, with the host's way of saying that a worker's thread ended. */
export interface MessageShards extends ShardedGradients {
  /** Worker k's thread ended (`why`: what the host saw): the step in progress, or the next, fails. */
  ended(k: number, why?: string): void;
}

const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/**
 * Starts the message transport over `ports` (one per worker, in order): posts each worker its
 * share of the plan and returns at once; a worker that cannot build its network says so in its
 * reply to the first step.
 */
export function startMessageShards(plan: ShardPlan, ports: ShardPort[]): MessageShards {
  const K = plan.workers;
  if (ports.length !== K) throw new RangeError(`${K} gradient workers need ${K} ports, not ${ports.length}`);
  const rows = shardRows(plan.B, K);
  const H = plan.spec.hidden;
  const f32 = plan.path === 'wasm-simd-f32';
  const floats = (n: number): Float => (f32 ? new Float32Array(n) : new Float64Array(n));
  const positions = plan.T * plan.B * plan.width;
  const input = plan.text ? new Int32Array(positions) : new Float64Array(positions);
  const target = plan.text ? new Int32Array(positions) : new Float64Array(positions);
  const lstm = plan.spec.cell === 'lstm';
  const state: RecurrentState = {
    batch: plan.B,
    h: Array.from({ length: plan.spec.layers }, () => floats(plan.B * H)),
    c: Array.from({ length: plan.spec.layers }, () => floats(lstm ? plan.B * H : 0)),
  };
  let step = 0;
  let closed = false;
  /** The first ended worker's message: every step from then on fails with it. */
  let failure: string | undefined;
  let pending: { replies: (FromShard | undefined)[]; left: number; resolve: () => void; reject: (err: Error) => void } | undefined;
  const fail = (why: string): void => {
    failure ??= why;
    const p = pending;
    pending = undefined;
    p?.reject(new Error(failure));
  };
  ports.forEach((port, k) => {
    port.addEventListener('message', (event) => {
      const reply = (event as MessageEvent).data as FromShard;
      const p = pending;
      if (!p || reply.step !== step || p.replies[k]) return;
      p.replies[k] = reply;
      if (--p.left === 0) {
        pending = undefined;
        p.resolve();
      }
    });
    port.start();
    port.postMessage({ type: 'init', plan, index: k, rows: rows[k] } satisfies ToShard, []);
  });
  const stop = (): void => {
    for (const port of ports) {
      port.postMessage({ type: 'stop' } satisfies ToShard, []);
      port.close();
    }
  };
  const rowsOf = (a: Float, r: RowRange): Float => a.slice(r.start * H, r.end * H);
  return {
    workers: K,
    transport: 'message',
    state,
    input,
    target,
    async gradientAsync(params: Vec, grad: Vec, diagnose: boolean, rng: Rng): Promise<ShardResult> {
      if (failure) throw new Error(failure);
      if (closed) throw new Error('the gradient workers were stopped');
      step++;
      const replies: (FromShard | undefined)[] = new Array(K).fill(undefined);
      const done = new Promise<void>((resolve, reject) => (pending = { replies, left: K, resolve, reject }));
      const rngState = rng.getState();
      for (let k = 0; k < K; k++) {
        const r = rows[k];
        const n = plan.T * (r.end - r.start) * plan.width;
        const mine = {
          input: plan.text ? new Int32Array(n) : new Float64Array(n),
          target: plan.text ? new Int32Array(n) : new Float64Array(n),
        };
        gatherRows(input, plan.T, plan.B, plan.width, r, mine.input);
        gatherRows(target, plan.T, plan.B, plan.width, r, mine.target);
        const msg: ToShard = {
          type: 'step', step, params: params.slice(), ...mine,
          h: state.h.map((a) => rowsOf(a, r)), c: state.c.map((a) => rowsOf(a, r)), diagnose, rng: rngState,
        };
        ports[k].postMessage(msg, [msg.params.buffer, msg.input.buffer, msg.target.buffer, ...msg.h.map((a) => a.buffer), ...msg.c.map((a) => a.buffer)] as ArrayBuffer[]);
      }
      await done;
      const results = replies as FromShard[];
      const failed = results.find((r) => r.type === 'error');
      if (failed?.type === 'error') throw new Error(failed.message);
      const ok = results as Extract<FromShard, { type: 'result' }>[];
      ok.forEach((r, k) => {
        const at = rows[k].start * H;
        r.h.forEach((a, l) => state.h[l].set(a, at));
        r.c.forEach((a, l) => a.length > 0 && state.c[l].set(a, at));
      });
      // Every worker drew the whole batch's masks; worker 0 left the generator where they end.
      rng.setState(ok[0].rng!);
      sumInOrder(ok.map((r) => r.grad), grad);
      let loss = 0;
      for (let k = 0; k < K; k++) loss += ok[k].loss;
      return {
        loss,
        saturation: diagnose ? combineSaturation(ok.map((r) => r.saturation ?? []), rows.map((r) => r.end - r.start)) : [],
        flow: diagnose ? combineFlow(ok.map((r) => r.flow ?? [])) : [],
      };
    },
    ended(k: number, why?: string) {
      if (closed) return;
      fail(endedMessage(k, K, why));
    },
    close() {
      if (closed) return;
      closed = true;
      fail('the gradient workers were stopped');
      stop();
    },
  };
}

/**
 * A gradient worker's loop over its port: the message twin of serveShard. It builds its replica
 * of the network at 'init', answers every 'step' with its rows' gradient, and closes its port at
 * 'stop'.
 */
export function serveShardMessages(port: ShardPort): void {
  let net: Network | undefined;
  let init: Extract<ToShard, { type: 'init' }> | undefined;
  let failure: string | undefined;
  const rng = new Rng(0);
  port.addEventListener('message', (event) => {
    const msg = (event as MessageEvent).data as ToShard;
    if (msg.type === 'stop') {
      port.close();
      return;
    }
    if (msg.type === 'init') {
      init = msg;
      const built = buildReplica(msg.plan, msg.index);
      [net, failure] = built instanceof Network ? [built, undefined] : [undefined, built.failure];
      return;
    }
    const k = init?.index ?? -1;
    const reply = (m: FromShard, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);
    if (!init || !net) {
      reply({ type: 'error', step: msg.step, message: failure ?? `gradient worker ${k} was given a step before its plan` });
      return;
    }
    try {
      const { plan, rows } = init;
      net.params.data.set(msg.params);
      // The coordinator's state of this worker's rows, carried through this step's forward.
      const state: RecurrentState = { batch: rows.end - rows.start, h: msg.h, c: msg.c };
      rng.setState(msg.rng);
      const r = shardGradient(net, state, msg.input, msg.target, plan.T, plan.B, msg.diagnose, rng, rows.start);
      const grad = net.params.grad.slice();
      const out: FromShard = { type: 'result', step: msg.step, grad, loss: r.loss, h: msg.h, c: msg.c };
      if (msg.diagnose) {
        out.saturation = r.saturation;
        out.flow = r.flow;
      }
      if (k === 0) out.rng = rng.getState();
      reply(out, [grad.buffer, ...msg.h.map((a) => a.buffer), ...msg.c.map((a) => a.buffer)] as ArrayBuffer[]);
    } catch (err) {
      reply({ type: 'error', step: msg.step, message: `gradient worker ${k} failed: ${message(err)}` });
    }
  });
  port.start();
}
