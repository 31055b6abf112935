/**
 * Losses over rows of a (rows, V) buffer, with an optional per-row mask (0 = the row carries no
 * loss: padding). Each returns the SUM over unmasked rows; the caller divides by its count, so
 * one normalisation rule (a token-level mean over the valid rows of the whole batch) holds for
 * every model.
 *
 *   softmax-CE: -log softmax(z_r)[t_r];  dz_r = (softmax(z_r) - onehot(t_r)) / count
 *   MSE:        sum_k (z_rk - y_rk)^2;   dz_rk = 2 (z_rk - y_rk) / count
 */
import { expInto, type Vec } from '../linalg';

/** Rows r0..r1-1 of z: logits in, probabilities out (unmasked rows only). */
export function softmaxCrossEntropyForward(z: Vec, r0: number, r1: number, V: number, targets: ArrayLike<number>, mask?: ArrayLike<number> | null): number {
  let loss = 0;
  for (let r = r0; r < r1; r++) {
    if (mask && !mask[r]) continue;
    const o = r * V;
    let max = -Infinity;
    for (let k = 0; k < V; k++) if (z[o + k] > max) max = z[o + k];
    // -log p_t = log sum_k exp(z_k - max) - (z_t - max): finite even where p_t underflows to 0
    // (a confident wrong prediction), which -log(p_t) would turn into Infinity.
    const zt = z[o + targets[r]] - max;
    expInto(z, o, z, o, V, max);
    let sum = 0;
    for (let k = 0; k < V; k++) sum += z[o + k];
    for (let k = 0; k < V; k++) z[o + k] /= sum;
    loss += Math.log(sum) - zt;
  }
  return loss;
}

/** dz for rows r0..r1-1 from the probabilities softmaxCrossEntropyForward left in z; masked rows get 0. */
export function softmaxCrossEntropyBackward(probs: Vec, r0: number, r1: number, V: number, targets: ArrayLike<number>, count: number, dz: Vec, mask?: ArrayLike<number> | null): void {
  for (let r = r0; r < r1; r++) {
    const o = r * V;
    if (mask && !mask[r]) {
      dz.fill(0, o, o + V);
      continue;
    }
    for (let k = 0; k < V; k++) dz[o + k] = probs[o + k] / count;
    dz[o + targets[r]] -= 1 / count;
  }
}

export function meanSquaredErrorForward(z: Vec, r0: number, r1: number, V: number, y: Vec): number {
  let loss = 0;
  for (let r = r0; r < r1; r++) {
    for (let k = 0; k < V; k++) {
      const d = z[r * V + k] - y[r * V + k];
      loss += d * d;
    }
  }
  return loss;
}

export function meanSquaredErrorBackward(z: Vec, r0: number, r1: number, V: number, y: Vec, count: number, dz: Vec): void {
  for (let r = r0; r < r1; r++) {
    for (let k = 0; k < V; k++) dz[r * V + k] = (2 * (z[r * V + k] - y[r * V + k])) / count;
  }
}
