/**
 * Embedding lookup. table (V,E) at `off` in the flat parameters; tokens (N); out / dOut (N,E).
 *   forward:  out[r] = table[tokens[r]]
 *   backward: dtable[tokens[r]] += dOut[r]   (rows never looked up get no gradient)
 */
import type { Vec } from '../linalg';

export function embeddingForward(W: Vec, off: number, E: number, tokens: ArrayLike<number>, tOff: number, n: number, out: Vec, outOff = 0): void {
  for (let r = 0; r < n; r++) {
    const o = off + tokens[tOff + r] * E;
    out.set(W.subarray(o, o + E), outOff + r * E);
  }
}

export function embeddingBackward(grad: Vec, off: number, E: number, tokens: ArrayLike<number>, tOff: number, n: number, dOut: Vec, dOff = 0, ld = E): void {
  for (let r = 0; r < n; r++) {
    const o = off + tokens[tOff + r] * E;
    const d = dOff + r * ld;
    for (let k = 0; k < E; k++) grad[o + k] += dOut[d + k];
  }
}
