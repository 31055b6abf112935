/**
 * Attention over a padded batch of encoder outputs, one decoder step at a time.
 *
 * Shapes: B rows, S source positions (the batch maximum), H hidden size, A additive attention size.
 *   enc     (B,S,H)  encoder outputs e_s (batch-major: row b's positions are contiguous)
 *   lengths (B)      n_b >= 1; positions s >= n_b are padding
 *   query   (B,H)    h_t (dot, general: the decoder's top h after the step) or q_t (additive:
 *                    the top h before the step), at qOff with leading dimension ldq
 *   keys    (B,S,H)  dot: enc itself; general: enc W_a^T (generalKeysForward), once per batch
 *   keysA   (B,S,A)  additive: enc W_k^T, once per batch
 *   a       (B,S)    attention weights, exactly 0 at padding
 *   ctx     (B,H)    c_t = sum_s a_s e_s
 *
 *   dot      score_s = h_t . e_s
 *   general  score_s = h_t . (W_a e_s)          W_a [H,H] (attention.weight)
 *   additive score_s = v . tanh(W_q q_t + W_k e_s)   W_q, W_k [A,H], v [1,A]
 *   a = softmax over s < n_b of score (scores at padding are -inf: weight 0, no gradient)
 *
 * Backward: dctx -> da_s = dctx . e_s and dEnc_s += a_s dctx; dscore = a * (da - sum a da);
 * then per kind into the query and the keys. Every d* output accumulates (+=) unless it says so.
 */
import type { Vec } from '../linalg';
import { f32 } from '../wasm/kernels';
import { linearForward, linearInputBackward, linearParamBackward } from './linear';

/** Masked softmax of scores (B,S) in place into a; entries s >= n_b become exactly 0. */
function maskedSoftmaxRows(B: number, S: number, lengths: ArrayLike<number>, a: Vec, aOff: number): void {
  for (let b = 0; b < B; b++) {
    const o = aOff + b * S;
    const n = lengths[b];
    let max = -Infinity;
    for (let s = 0; s < n; s++) if (a[o + s] > max) max = a[o + s];
    let sum = 0;
    for (let s = 0; s < n; s++) {
      const e = Math.exp(a[o + s] - max);
      a[o + s] = e;
      sum += e;
    }
    for (let s = 0; s < n; s++) a[o + s] /= sum;
    for (let s = n; s < S; s++) a[o + s] = 0;
  }
}

/** dscore (B,S) = a * (da - sum_s a da), overwriting da; 0 at padding. */
function maskedSoftmaxBackwardRows(B: number, S: number, lengths: ArrayLike<number>, a: Vec, aOff: number, da: Vec): void {
  for (let b = 0; b < B; b++) {
    const o = b * S;
    const n = lengths[b];
    let dot = 0;
    for (let s = 0; s < n; s++) dot += a[aOff + o + s] * da[o + s];
    for (let s = 0; s < n; s++) da[o + s] = a[aOff + o + s] * (da[o + s] - dot);
    for (let s = n; s < S; s++) da[o + s] = 0;
  }
}

/**
 * The three row passes attention is made of, each over s < n_b of every row b: scores, weighted
 * sums and their outer-product gradients. Float32 arrays in the kernels' arena run the f32x4
 * kernels (../wasm/kernels.ts rowDots, rowCombine, rowOuterAdd); other arrays these loops.
 */

/** out[b,s] = q_b . keys[b,s] (B,S) at oOff; q_b at qOff + b ldq. */
function rowDots(B: number, S: number, H: number, lengths: ArrayLike<number>, q: Vec, qOff: number, ldq: number, keys: Vec, out: Vec, oOff: number): void {
  if (out instanceof Float32Array && f32.rowDots(B, S, H, lengths, q, qOff, ldq, keys, 0, out, oOff)) return;
  for (let b = 0; b < B; b++) {
    const qb = qOff + b * ldq;
    for (let s = 0; s < lengths[b]; s++) {
      const k = (b * S + s) * H;
      let sum = 0;
      for (let j = 0; j < H; j++) sum += q[qb + j] * keys[k + j];
      out[oOff + b * S + s] = sum;
    }
  }
}

/** y_b (=|+=) sum_s w[b,s] e[b,s]; w (B,S) at wOff, y_b at yOff + b ldy. */
function rowCombine(B: number, S: number, H: number, lengths: ArrayLike<number>, w: Vec, wOff: number, e: Vec, y: Vec, yOff: number, ldy: number, beta: 0 | 1): void {
  if (y instanceof Float32Array && f32.rowCombine(B, S, H, lengths, w, wOff, e, 0, y, yOff, ldy, beta)) return;
  for (let b = 0; b < B; b++) {
    const yb = yOff + b * ldy;
    if (!beta) for (let j = 0; j < H; j++) y[yb + j] = 0;
    for (let s = 0; s < lengths[b]; s++) {
      const ws = w[wOff + b * S + s];
      const es = (b * S + s) * H;
      for (let j = 0; j < H; j++) y[yb + j] += ws * e[es + j];
    }
  }
}

/** d[b,s] += w[b,s] x_b; w (B,S) at wOff, x_b at xOff + b ldx. */
function rowOuterAdd(B: number, S: number, H: number, lengths: ArrayLike<number>, w: Vec, wOff: number, x: Vec, xOff: number, ldx: number, d: Vec): void {
  if (d instanceof Float32Array && f32.rowOuterAdd(B, S, H, lengths, w, wOff, x, xOff, ldx, d, 0)) return;
  for (let b = 0; b < B; b++) {
    const xb = xOff + b * ldx;
    for (let s = 0; s < lengths[b]; s++) {
      const ws = w[wOff + b * S + s];
      const ds = (b * S + s) * H;
      for (let j = 0; j < H; j++) d[ds + j] += ws * x[xb + j];
    }
  }
}

/** ctx[b] = sum_{s < n_b} a[b,s] enc[b,s]. */
export function contextForward(B: number, S: number, H: number, lengths: ArrayLike<number>, a: Vec, aOff: number, enc: Vec, ctx: Vec, cOff: number, ldc: number): void {
  rowCombine(B, S, H, lengths, a, aOff, enc, ctx, cOff, ldc, 0);
}

/** da (B,S) = dctx . e_s (overwritten, 0 at padding), dEnc[b,s] += a_s dctx. */
export function contextBackward(B: number, S: number, H: number, lengths: ArrayLike<number>, dctx: Vec, dOff: number, ldd: number, a: Vec, aOff: number, enc: Vec, dEnc: Vec, da: Vec): void {
  da.fill(0, 0, B * S);
  rowDots(B, S, H, lengths, dctx, dOff, ldd, enc, da, 0);
  rowOuterAdd(B, S, H, lengths, a, aOff, dctx, dOff, ldd, dEnc);
}

/** Luong scores h . keys_s and their masked softmax into a (B,S) at aOff. */
function luongWeightsForward(B: number, S: number, H: number, lengths: ArrayLike<number>, query: Vec, qOff: number, ldq: number, keys: Vec, a: Vec, aOff: number): void {
  rowDots(B, S, H, lengths, query, qOff, ldq, keys, a, aOff);
  maskedSoftmaxRows(B, S, lengths, a, aOff);
}

/** From dscore (B,S): dQuery[b] += sum_s dscore_s keys_s, dKeys[b,s] += dscore_s h. */
function luongScoresBackward(B: number, S: number, H: number, lengths: ArrayLike<number>, dscore: Vec, query: Vec, qOff: number, ldq: number, keys: Vec, dQuery: Vec, dqOff: number, lddq: number, dKeys: Vec): void {
  rowCombine(B, S, H, lengths, dscore, 0, keys, dQuery, dqOff, lddq, 1);
  rowOuterAdd(B, S, H, lengths, dscore, 0, query, qOff, ldq, dKeys);
}

/** Dot attention (Luong): a and ctx from h_t. keys = enc. */
export function dotAttentionForward(B: number, S: number, H: number, lengths: ArrayLike<number>, query: Vec, qOff: number, ldq: number, enc: Vec, a: Vec, aOff: number, ctx: Vec, cOff: number, ldc: number): void {
  luongWeightsForward(B, S, H, lengths, query, qOff, ldq, enc, a, aOff);
  contextForward(B, S, H, lengths, a, aOff, enc, ctx, cOff, ldc);
}

/**
 * Dot attention backward from dctx: dQuery += ..., dEnc += (through the context and the scores).
 * `da` is (B,S) scratch.
 */
export function dotAttentionBackward(B: number, S: number, H: number, lengths: ArrayLike<number>, dctx: Vec, dOff: number, ldd: number, query: Vec, qOff: number, ldq: number, enc: Vec, a: Vec, aOff: number, dQuery: Vec, dqOff: number, lddq: number, dEnc: Vec, da: Vec): void {
  contextBackward(B, S, H, lengths, dctx, dOff, ldd, a, aOff, enc, dEnc, da);
  maskedSoftmaxBackwardRows(B, S, lengths, a, aOff, da);
  luongScoresBackward(B, S, H, lengths, da, query, qOff, ldq, enc, dQuery, dqOff, lddq, dEnc);
}

/** keys = enc W_a^T (B*S rows): score_s = h . (W_a e_s). */
export function generalKeysForward(B: number, S: number, H: number, enc: Vec, W: Vec, waOff: number, keys: Vec): void {
  linearForward(B * S, H, H, enc, 0, H, W, waOff, -1, keys, 0);
}

/** dW_a += dKeys^T enc, dEnc += dKeys W_a: once per batch, after every step's generalAttentionBackward. */
export function generalKeysBackward(B: number, S: number, H: number, dKeys: Vec, enc: Vec, W: Vec, waOff: number, grad: Vec, dEnc: Vec): void {
  linearParamBackward(B * S, H, H, dKeys, 0, enc, 0, H, grad, waOff, -1);
  linearInputBackward(B * S, H, H, dKeys, 0, W, waOff, dEnc, 0, H, 1);
}

/** General attention (Luong): as dot with keys = enc W_a^T. */
export function generalAttentionForward(B: number, S: number, H: number, lengths: ArrayLike<number>, query: Vec, qOff: number, ldq: number, keys: Vec, enc: Vec, a: Vec, aOff: number, ctx: Vec, cOff: number, ldc: number): void {
  luongWeightsForward(B, S, H, lengths, query, qOff, ldq, keys, a, aOff);
  contextForward(B, S, H, lengths, a, aOff, enc, ctx, cOff, ldc);
}

/** General attention backward: dEnc += (through the context), dKeys += (through the scores), dQuery +=. */
export function generalAttentionBackward(B: number, S: number, H: number, lengths: ArrayLike<number>, dctx: Vec, dOff: number, ldd: number, query: Vec, qOff: number, ldq: number, keys: Vec, enc: Vec, a: Vec, aOff: number, dQuery: Vec, dqOff: number, lddq: number, dKeys: Vec, dEnc: Vec, da: Vec): void {
  contextBackward(B, S, H, lengths, dctx, dOff, ldd, a, aOff, enc, dEnc, da);
  maskedSoftmaxBackwardRows(B, S, lengths, a, aOff, da);
  luongScoresBackward(B, S, H, lengths, da, query, qOff, ldq, keys, dQuery, dqOff, lddq, dKeys);
}

/** keysA = enc W_k^T (B*S rows, A columns), once per batch. */
export function additiveKeysForward(B: number, S: number, H: number, A: number, enc: Vec, W: Vec, wkOff: number, keysA: Vec): void {
  linearForward(B * S, A, H, enc, 0, H, W, wkOff, -1, keysA, 0);
}

/** dW_k += dKeysA^T enc, dEnc += dKeysA W_k. */
export function additiveKeysBackward(B: number, S: number, H: number, A: number, dKeysA: Vec, enc: Vec, W: Vec, wkOff: number, grad: Vec, dEnc: Vec): void {
  linearParamBackward(B * S, A, H, dKeysA, 0, enc, 0, H, grad, wkOff, -1);
  linearInputBackward(B * S, A, H, dKeysA, 0, W, wkOff, dEnc, 0, H, 1);
}

/**
 * Additive attention (Bahdanau). qProj (B,A) = W_q q_t (the caller's linearForward); pre (B,S,A)
 * at preOff keeps tanh(qProj + keysA_s) for the backward pass; v at vOff in W.
 */
export function additiveAttentionForward(B: number, S: number, H: number, A: number, lengths: ArrayLike<number>, qProj: Vec, qpOff: number, keysA: Vec, W: Vec, vOff: number, enc: Vec, pre: Vec, preOff: number, a: Vec, aOff: number, ctx: Vec, cOff: number, ldc: number): void {
  for (let b = 0; b < B; b++) {
    const q = qpOff + b * A;
    for (let s = 0; s < lengths[b]; s++) {
      const k = (b * S + s) * A;
      const p = preOff + k;
      let score = 0;
      for (let i = 0; i < A; i++) {
        const x = Math.tanh(qProj[q + i] + keysA[k + i]);
        pre[p + i] = x;
        score += W[vOff + i] * x;
      }
      a[aOff + b * S + s] = score;
    }
  }
  maskedSoftmaxRows(B, S, lengths, a, aOff);
  contextForward(B, S, H, lengths, a, aOff, enc, ctx, cOff, ldc);
}

/**
 * Additive attention backward from dctx: dEnc += (context), dKeysA +=, grad[v] +=, and dqProj
 * (B,A) at dqpOff is OVERWRITTEN with dL/d(W_q q_t). `da` is (B,S) scratch.
 */
export function additiveAttentionBackward(B: number, S: number, H: number, A: number, lengths: ArrayLike<number>, dctx: Vec, dOff: number, ldd: number, W: Vec, vOff: number, enc: Vec, pre: Vec, preOff: number, a: Vec, aOff: number, grad: Vec, dqProj: Vec, dqpOff: number, dKeysA: Vec, dEnc: Vec, da: Vec): void {
  contextBackward(B, S, H, lengths, dctx, dOff, ldd, a, aOff, enc, dEnc, da);
  maskedSoftmaxBackwardRows(B, S, lengths, a, aOff, da);
  for (let b = 0; b < B; b++) {
    const dq = dqpOff + b * A;
    for (let i = 0; i < A; i++) dqProj[dq + i] = 0;
    for (let s = 0; s < lengths[b]; s++) {
      const ds = da[b * S + s];
      const k = (b * S + s) * A;
      const p = preOff + k;
      for (let i = 0; i < A; i++) {
        const x = pre[p + i];
        grad[vOff + i] += ds * x;
        const dpre = ds * W[vOff + i] * (1 - x * x);
        dqProj[dq + i] += dpre;
        dKeysA[k + i] += dpre;
      }
    }
  }
}
