/**
 * Working arrays of one precision for a model whose shapes change from batch to batch (seq2seq:
 * B, the longest source S and the longest target T of each batch). The arrays are taken in the
 * same order on every pass, so slot i is always the same buffer: it keeps the largest size asked
 * of it and hands out a zeroed view of the size asked, so a pass with new shapes reuses memory
 * instead of allocating, and sees the zeroed arrays a fresh allocation would give.
 *
 * float32: every slot is in the WebAssembly kernels' arena (../wasm/kernels.ts), so the views are
 * what the f32x4 kernels take; float64: plain Float64Arrays (the reference engine).
 */
import type { Vec } from '../linalg';
import type { Precision } from '../params';
import { allocF32, releaseF32 } from '../wasm/kernels';

export class Workspace {
  private readonly slots: Vec[] = [];
  private next = 0;

  constructor(readonly precision: Precision) {}

  /** Starts a pass: the next take() is slot 0 again. */
  reset(): void {
    this.next = 0;
  }

  /** The next slot as a zeroed array of n values. */
  readonly take = (n: number): Vec => {
    const i = this.next++;
    const have = this.slots[i];
    if (have && have.length >= n) {
      const v = have.length === n ? have : have.subarray(0, n);
      v.fill(0);
      return v;
    }
    if (have instanceof Float32Array) releaseF32(have);
    const fresh = this.precision === 'float32' ? allocF32(n) : new Float64Array(n);
    this.slots[i] = fresh;
    return fresh;
  };

  /** Gives every slot back to the arena. */
  release(): void {
    for (const a of this.slots) if (a instanceof Float32Array) releaseF32(a);
    this.slots.length = 0;
    this.next = 0;
  }
}
