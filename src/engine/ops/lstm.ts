/**
 * LSTM cell (PyTorch nn.LSTM, gate order i, f, g, o):
 *   [i f g o] = [s s tanh s](W_ih x + b_ih + W_hh h + b_hh),  c' = f c + i g,  h' = o tanh(c')
 *
 * Shapes as in ./cell.ts (G = 4): gates (T,B,4H) pre-activations X W_ih^T + b_ih + b_hh on entry,
 * activations on exit; hs, cs (T+1,B,H); tc (T,B,H) tanh(c_t); dOut (T,B,H) gradient into h_t
 * from above; dG (T,B,4H).
 */
import { gemmNT, l2, sigmoidInto, tanhInto, type Vec } from '../linalg';
import { f32 } from '../wasm/kernels';
import type { CellCache, CellGradCarry, CellParams, RecurrentProduct } from './cell';

/** Steps t0..t1-1 from (hs[t0], cs[t0]). */
export function lstmForward(W: Vec, p: CellParams, c: CellCache, t0: number, t1: number, B: number, H: number): void {
  const GH = 4 * H;
  const { gates: g, hs, cs, tc } = c;
  for (let t = t0; t < t1; t++) {
    const hp = t * B * H; // h_{t-1}
    const hn = hp + B * H; // h_t
    const go = t * B * GH;
    // The recurrent product, then the nonlinearities as passes over contiguous runs, then the state update.
    gemmNT(B, GH, H, hs, hp, H, W, p.whh, H, g, go, GH, 1);
    // Float32 in the kernels' arena: the whole gate pass in one f32x4 kernel.
    if (g instanceof Float32Array && f32.lstmForwardGates(g, go, cs, hp, hn, tc, hp, hs, hn, B, H)) continue;
    for (let b = 0; b < B; b++) {
      const row = go + b * GH;
      sigmoidInto(g, row, g, row, 2 * H); // i, f
      tanhInto(g, row + 2 * H, g, row + 2 * H, H); // g
      sigmoidInto(g, row + 3 * H, g, row + 3 * H, H); // o
      for (let j = 0; j < H; j++) cs[hn + b * H + j] = g[row + H + j] * cs[hp + b * H + j] + g[row + j] * g[row + 2 * H + j];
    }
    tanhInto(cs, hn, tc, hp, B * H);
    for (let b = 0; b < B; b++) {
      const row = go + b * GH;
      for (let j = 0; j < H; j++) hs[hn + b * H + j] = g[row + 3 * H + j] * tc[hp + b * H + j];
    }
  }
}

/**
 * Steps t1-1 down to t0. carry.dh / carry.dc hold dL/dh_t, dL/dc_t from later steps on entry and
 * dL/dh_{t0-1}, dL/dc_{t0-1} on exit. flowH[t], flowC[t] get ||dL/dh_t||, ||dL/dc_t|| when given.
 */
export function lstmBackward(
  c: CellCache, dOut: Vec, dG: Vec, carry: CellGradCarry,
  t0: number, t1: number, B: number, H: number, recurrent: RecurrentProduct, flowH?: Vec, flowC?: Vec,
): void {
  const GH = 4 * H;
  const { gates: g, cs, tc: tanhC } = c;
  const dc = carry.dc;
  let dh = carry.dh;
  let dhPrev = carry.dhPrev;
  for (let t = t1 - 1; t >= t0; t--) {
    const hp = t * B * H;
    const go = t * B * GH;
    const oo = t * B * H;
    if (!(dh instanceof Float32Array && f32.addInto(dh, 0, dOut, oo, B * H))) for (let i = 0; i < B * H; i++) dh[i] += dOut[oo + i];
    if (flowH) flowH[t] = l2(dh);
    // Float32 in the kernels' arena: the whole gate pass in one f32x4 kernel (it returns -1 otherwise).
    const fused = g instanceof Float32Array ? f32.lstmBackwardGates(g, go, cs, hp, tanhC, oo, dh, dc, dG, B, H) : -1;
    let cnorm = Math.max(0, fused);
    for (let b = 0; fused < 0 && b < B; b++) {
      const row = go + b * GH;
      for (let j = 0; j < H; j++) {
        const k = b * H + j;
        const i = g[row + j], f = g[row + H + j], gg = g[row + 2 * H + j], o = g[row + 3 * H + j];
        const tcv = tanhC[oo + k];
        const dct = dc[k] + dh[k] * o * (1 - tcv * tcv); // total dL/dc_t: carried + through h_t
        cnorm += dct * dct;
        dG[row + j] = dct * gg * i * (1 - i);
        dG[row + H + j] = dct * cs[hp + k] * f * (1 - f);
        dG[row + 2 * H + j] = dct * i * (1 - gg * gg);
        dG[row + 3 * H + j] = dh[k] * tcv * o * (1 - o);
        dc[k] = dct * f; // the highway: dL/dc_{t-1} is an elementwise product with f
      }
    }
    if (flowC) flowC[t] = Math.sqrt(cnorm);
    recurrent(dG, go, GH, 0, GH, dhPrev, 0);
    const swap = dh;
    dh = dhPrev;
    dhPrev = swap;
  }
  carry.dh = dh;
  carry.dhPrev = dhPrev;
}
