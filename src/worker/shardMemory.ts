/**
 * The shared memory of a run's gradient workers (one SharedArrayBuffer per array, made by the
 * coordinator and handed to each worker at its start) and the control words both sides use.
 *
 * control (Int32): [0] diagnose flag of the current step; [RNG..RNG+3] the run generator's state
 * at the step's start; [RNG_OUT..RNG_OUT+3] where worker 0's forward left it; [CMD + k] the step number worker k is
 * told to compute (-1: stop); [DONE + k] the last step number it finished; [READY + k] 1 once
 * its network is built, 2 when that failed; [DEAD + k] 1 once worker k's thread has ended (set by
 * the host's watchdog, which then wakes whoever waits on k's words). A side waits on a word with Atomics.wait and the
 * other stores it and calls Atomics.notify: no message passing, so the coordinator's step stays
 * synchronous. Each worker owns its grads slot, its losses entry, its report bytes and its rows
 * of the state; the coordinator owns params, input, target and the rest of control.
 */
import type { RowRange, ShardPlan } from '../engine/shard';

export interface ShardBuffers {
  control: SharedArrayBuffer;
  params: SharedArrayBuffer;
  /** K slots of paramSize values. */
  grads: SharedArrayBuffer;
  losses: SharedArrayBuffer;
  /** Per layer (B,H): h, then c (empty for cells without a cell state). */
  h: SharedArrayBuffer[];
  c: SharedArrayBuffer[];
  input: SharedArrayBuffer;
  target: SharedArrayBuffer;
  /** K slots of REPORT_BYTES(plan): [4-byte length][UTF-8 JSON of the diagnostics or an error]. */
  reports: SharedArrayBuffer;
}

/** What a gradient worker gets at its start. */
export interface ShardInit {
  plan: ShardPlan;
  index: number;
  rows: RowRange;
  buffers: ShardBuffers;
}

export const DIAGNOSE = 0;
export const RNG = 1;
export const RNG_OUT = 5;
export const CMD = 9;
export const doneWord = (K: number, k: number): number => CMD + K + k;
export const readyWord = (K: number, k: number): number => CMD + 2 * K + k;
export const deadWord = (K: number, k: number): number => CMD + 3 * K + k;
/**
 * Marks worker k's thread as ended and wakes whoever waits on its words: its done and ready words
 * change as well, so a coordinator that read them just before cannot sleep through the notify.
 */
export function markDead(control: Int32Array, K: number, k: number): void {
  Atomics.store(control, deadWord(K, k), 1);
  Atomics.store(control, doneWord(K, k), -2);
  Atomics.store(control, readyWord(K, k), 3);
  Atomics.notify(control, doneWord(K, k));
  Atomics.notify(control, readyWord(K, k));
}

/** Int32 words of the control buffer of K workers. */
export const controlWords = (K: number): number => CMD + 4 * K;

/** Bytes of a worker's report slot: room for its saturation and flow as JSON (~24 bytes a number). */
export function reportBytes(plan: ShardPlan): number {
  const H = plan.spec.hidden;
  const numbers = plan.spec.layers * (8 * H + 2 * plan.T);
  return 4096 + 32 * numbers;
}

type Float = Float32Array | Float64Array;

/** The typed views of a run's shared buffers. */
export interface ShardViews {
  control: Int32Array;
  params: Float;
  grads: Float;
  losses: Float64Array;
  h: Float[];
  c: Float[];
  input: Int32Array | Float64Array;
  target: Int32Array | Float64Array;
  reports: Uint8Array;
}

function floats(plan: ShardPlan): (b: SharedArrayBuffer) => Float {
  return plan.path === 'wasm-simd-f32' ? (b) => new Float32Array(b) : (b) => new Float64Array(b);
}

export function allocateShardBuffers(plan: ShardPlan): ShardBuffers {
  const K = plan.workers;
  const bytes = plan.path === 'wasm-simd-f32' ? 4 : 8;
  const sab = (n: number) => new SharedArrayBuffer(Math.max(1, n));
  const BH = plan.B * plan.spec.hidden;
  const L = plan.spec.layers;
  const positions = plan.T * plan.B * plan.width;
  return {
    control: sab(4 * controlWords(K)),
    params: sab(bytes * plan.paramSize),
    grads: sab(bytes * plan.paramSize * K),
    losses: sab(8 * K),
    h: Array.from({ length: L }, () => sab(bytes * BH)),
    c: Array.from({ length: L }, () => (plan.spec.cell === 'lstm' ? sab(bytes * BH) : new SharedArrayBuffer(0))),
    input: sab(plan.text ? 4 * positions : 8 * positions),
    target: sab(plan.text ? 4 * positions : 8 * positions),
    reports: sab(reportBytes(plan) * K),
  };
}

export function shardViews(plan: ShardPlan, b: ShardBuffers): ShardViews {
  const f = floats(plan);
  const BH = plan.B * plan.spec.hidden;
  const positions = plan.T * plan.B * plan.width;
  const ints = (s: SharedArrayBuffer) => (plan.text ? new Int32Array(s, 0, positions) : new Float64Array(s, 0, positions));
  return {
    control: new Int32Array(b.control),
    params: f(b.params).subarray(0, plan.paramSize),
    grads: f(b.grads).subarray(0, plan.paramSize * plan.workers),
    losses: new Float64Array(b.losses),
    h: b.h.map((s) => f(s).subarray(0, BH)),
    c: b.c.map((s) => (s.byteLength > 0 ? f(s).subarray(0, BH) : f(s))),
    input: ints(b.input),
    target: ints(b.target),
    reports: new Uint8Array(b.reports),
  };
}

/** Writes `value` as JSON into report slot k (cut to an error if it does not fit). */
export function writeReport(plan: ShardPlan, reports: Uint8Array, k: number, value: unknown): void {
  const size = reportBytes(plan);
  let bytes = new TextEncoder().encode(JSON.stringify(value));
  if (bytes.length > size - 4) bytes = new TextEncoder().encode(JSON.stringify({ error: `worker ${k}'s report of ${bytes.length} bytes does not fit its ${size - 4}` }));
  const slot = reports.subarray(k * size, (k + 1) * size);
  new DataView(reports.buffer, reports.byteOffset + k * size, 4).setUint32(0, bytes.length, true);
  slot.set(bytes, 4);
}

export function readReport(plan: ShardPlan, reports: Uint8Array, k: number): unknown {
  const size = reportBytes(plan);
  const length = new DataView(reports.buffer, reports.byteOffset + k * size, 4).getUint32(0, true);
  // A copy: TextDecoder refuses views of shared memory in browsers.
  return JSON.parse(new TextDecoder().decode(reports.slice(k * size + 4, k * size + 4 + length)));
}
