/**
 * Data parallelism within a run, the engine's half: which batch rows each of K workers owns, the
 * gradient of one worker's rows, and the fixed-order reduce of the K gradients. Pure: the threads
 * and their transport are src/worker's (shardPool.ts over shared memory, shardMessages.ts over
 * message transfer where the host has no SharedArrayBuffer).
 *
 * The loss of a step is the mean over the T*B positions of the batch, L = (1/TB) sum_{t,b} l_tb.
 * Worker k computes its share L_k = (1/TB) sum_{t, b in rows_k} l_tb (the denominator is the whole
 * batch's, not its own rows'), so dL/dtheta = sum_k dL_k/dtheta: the coordinator adds the K
 * buffers in the order 0, 1, ..., K-1 and needs no division. Each row's dlogits are then the
 * very numbers a single worker computes for that row; only the sums over rows inside the
 * products and the K-term reduce group differently, so K workers agree with one to float
 * rounding, and the same K gives the same bits every time.
 *
 * Truncated BPTT carries each row's hidden state across chunks: a worker owns a contiguous range
 * of rows for the whole run, so the state of its rows stays with it (in shared memory, in the one
 * (B,H) buffer per layer the checkpoint reads; over messages, sent with each step and written back
 * into that buffer).
 */
import type { EnginePath, FlowEntry, SaturationEntry, WorkerTransport } from '../protocol/config';
import { gateSaturation } from './diagnostics/saturation';
import type { Vec } from './linalg';
import type { ModelSpec, Network, RecurrentState } from './network';
import type { Rng } from './random';

/** Rows [start, end) of the batch. */
export interface RowRange {
  start: number;
  end: number;
}

/**
 * K contiguous shares of B rows, in order, sizes differing by at most one (the first B mod K
 * shares one row longer). K must be between 1 and B.
 */
export function shardRows(B: number, K: number): RowRange[] {
  if (!Number.isInteger(B) || !Number.isInteger(K) || K < 1 || K > B) throw new RangeError(`cannot split ${B} rows over ${K} workers`);
  const base = Math.floor(B / K);
  const extra = B % K;
  const out: RowRange[] = [];
  let start = 0;
  for (let k = 0; k < K; k++) {
    const end = start + base + (k < extra ? 1 : 0);
    out.push({ start, end });
    start = end;
  }
  return out;
}

/** The message of a step whose gradient worker k of K ended (either transport). */
export function endedMessage(k: number, K: number, why?: string): string {
  return (
    `gradient worker ${k + 1} of ${K} ended in the middle of a step (${why ?? 'its thread stopped: out of memory, or killed'}); ` +
    'the run stops at its last completed step. Resume it to go on, with "workers": 1 to train on one thread'
  );
}

/**
 * The number of workers of a run: `requested` (0: the host's cores minus one, at least one),
 * capped at the batch size (a worker needs a row).
 */
export function workerCount(requested: number, batch: number, cores: number): number {
  const wanted = requested > 0 ? requested : Math.max(1, Math.floor(cores) - 1);
  return Math.max(1, Math.min(wanted, batch));
}

/**
 * Rows [start, end) of a time-major (T,B,width) array into (T,end-start,width): row b of time t
 * sits at (t*B + b)*width.
 */
export function gatherRows<A extends Int32Array | Float64Array | Float32Array>(src: A, T: number, B: number, width: number, rows: RowRange, dst: A): void {
  const n = (rows.end - rows.start) * width;
  for (let t = 0; t < T; t++) {
    const from = (t * B + rows.start) * width;
    dst.set(src.subarray(from, from + n), t * n);
  }
}

/** out = parts[0] + parts[1] + ... + parts[K-1], added in that order (one fixed rounding). */
export function sumInOrder(parts: Vec[], out: Vec): void {
  if (parts.length === 0) throw new RangeError('nothing to sum');
  out.set(parts[0]);
  for (let k = 1; k < parts.length; k++) {
    const p = parts[k];
    for (let i = 0; i < out.length; i++) out[i] += p[i];
  }
}

/**
 * The saturation of the whole batch from each worker's (fractions over its own rows): a fraction
 * over all rows is the row-weighted mean of the workers' fractions.
 */
export function combineSaturation(parts: SaturationEntry[][], rows: number[]): SaturationEntry[] {
  const total = rows.reduce((a, b) => a + b, 0);
  return parts[0].map((e, i) => {
    const mix = (pick: (s: SaturationEntry) => number[]): number[] =>
      pick(e).map((_, j) => parts.reduce((acc, p, k) => acc + pick(p[i])[j] * rows[k], 0) / total);
    const unitLeft = mix((s) => s.unitLeft);
    const unitRight = mix((s) => s.unitRight);
    const H = unitLeft.length;
    return { ...e, left: unitLeft.reduce((a, b) => a + b, 0) / H, right: unitRight.reduce((a, b) => a + b, 0) / H, unitLeft, unitRight };
  });
}

/**
 * The gradient flow of the whole batch from each worker's: ||dL_T/dh_{T-k}|| is a norm over all
 * rows, and each worker's norm is over its rows of the same gradient (its share of L_T), so the
 * total is the root of the sum of the squares.
 */
export function combineFlow(parts: FlowEntry[][]): FlowEntry[] {
  const root = (pick: (f: FlowEntry) => number[] | undefined, i: number): number[] | undefined =>
    pick(parts[0][i])?.map((_, k) => Math.sqrt(parts.reduce((acc, p) => acc + pick(p[i])![k] ** 2, 0)));
  return parts[0].map((e, i) => {
    const out: FlowEntry = { layer: e.layer, h: root((f) => f.h, i)! };
    const c = root((f) => f.c, i);
    if (c) out.c = c;
    return out;
  });
}

/** What one step of a worker's rows gives back besides its gradient. */
export interface ShardResult {
  /** This worker's share of the batch's mean loss (see the header). */
  loss: number;
  saturation: SaturationEntry[];
  flow: FlowEntry[];
}

/**
 * One step's gradient over a worker's rows: forward from `state` (left holding the rows' final
 * state), the head with the whole batch's denominator `batch` (T*batch positions), and backward
 * into net.params.grad (zeroed first). With `diagnose`, the saturation of these rows and their
 * flow through time (the last step's loss, also over the whole batch's denominator).
 * Dropout: `rng` in the state the whole batch's forward would start from and `start`, the first
 * row of this share; the masks are then the whole batch's (Network.forward's `rows`), and `rng`
 * ends where that forward would leave it.
 */
export function shardGradient(
  net: Network, state: RecurrentState, input: Int32Array | Vec, target: Int32Array | Vec, T: number, batch: number, diagnose: boolean,
  rng?: Rng, start = 0,
): ShardResult {
  const B = state.batch;
  net.params.zeroGrad();
  net.forward(input, T, B, state, rng, { start, batch });
  const saturation = diagnose ? gateSaturation(net) : [];
  const loss = net.head(target, { backward: true, denominator: T * batch });
  net.backward();
  const flow = diagnose ? flowOf(net, target, batch) : [];
  return { loss, saturation, flow };
}

/**
 * ||dL_T / dh_{T-k}|| (and dc) for k = 0..T-1 over the last forward, from the last step's loss
 * with `batch` as its denominator; no parameter gradients. Index k counts steps back from the end.
 */
export function flowOf(net: Network, target: Int32Array | Vec, batch: number): FlowEntry[] {
  const T = net.lastT;
  const L = net.spec.layers;
  const lstm = net.spec.cell === 'lstm';
  net.head(target, { backward: true, paramGrads: false, lastStepOnly: true, denominator: batch });
  const rec = {
    h: Array.from({ length: L }, () => new Float64Array(T)),
    c: Array.from({ length: L }, () => new Float64Array(lstm ? T : 0)),
  };
  net.backward({ paramGrads: false, flow: rec });
  return rec.h.map((h, layer) => {
    const entry: FlowEntry = { layer, h: Array.from(h).reverse() };
    if (lstm) entry.c = Array.from(rec.c[layer]).reverse();
    return entry;
  });
}

/** How the workers of a run share memory with its coordinator: shared memory, or messages. */
export type ShardTransport = WorkerTransport;

/** What a run's gradient workers need to know: the model, its precision, and the batch's shape. */
export interface ShardPlan {
  spec: ModelSpec;
  path: EnginePath;
  paramSize: number;
  /** Time steps per chunk and rows of the batch. */
  T: number;
  B: number;
  /** Values per position: 1 for token ids, the channel count for series. */
  width: number;
  text: boolean;
  workers: number;
}

/**
 * A run's K gradient workers, seen from the trainer. The trainer's carried state and its input and
 * target arrays are the ones this object gives (shared with the workers, or sent to them each
 * step); a step sends the parameters, runs one step on every worker, and leaves the ordered sum of
 * their gradients in `grad`. Shared memory steps synchronously (gradient); message transfer has
 * to wait for replies (gradientAsync). A transport gives exactly one of the two.
 */
export interface ShardedGradients {
  readonly workers: number;
  readonly transport: ShardTransport;
  readonly state: RecurrentState;
  readonly input: Int32Array | Float64Array;
  readonly target: Int32Array | Float64Array;
  /** `rng`: the run's generator (dropout masks); left as the whole batch's forward would leave it. */
  gradient?(params: Vec, grad: Vec, diagnose: boolean, rng: Rng): ShardResult;
  gradientAsync?(params: Vec, grad: Vec, diagnose: boolean, rng: Rng): Promise<ShardResult>;
  close(): void;
}

/**
 * Starts the gradient workers of a plan, or says why it cannot (then the run trains on one, and
 * records the reason). Injected by whoever owns threads: a node worker, a Web Worker, the CLI.
 */
export type ShardedGradientsFactory = (plan: ShardPlan) => ShardedGradients | { reason: string };

/** The host's side of parallel training: its core count and how it starts workers. */
export interface ParallelHost {
  cores: number;
  start?: ShardedGradientsFactory;
  /** Why `start` is missing (e.g. a host that cannot start workers). */
  reason?: string;
}
