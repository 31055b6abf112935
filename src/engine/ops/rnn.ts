/**
 * Vanilla RNN cell (PyTorch nn.RNN): h' = act(W_ih x + b_ih + W_hh h + b_hh), act = tanh or relu.
 *
 * Shapes as in ./cell.ts (G = 1): gates (T,B,H) holds the pre-activations X W_ih^T + b_ih + b_hh
 * on entry (cellInputForward) and h_t itself on exit; hs (T+1,B,H); dOut (T,B,H) the gradient
 * into h_t from above; dG (T,B,H) the gradient of the pre-activations.
 */
import { gemmNT, l2, tanhInto, type Vec } from '../linalg';
import type { CellCache, CellGradCarry, CellParams, RecurrentProduct } from './cell';

/** Steps t0..t1-1: hs[t+1] = act(gates[t] + hs[t] W_hh^T). */
export function rnnForward(W: Vec, p: CellParams, c: CellCache, t0: number, t1: number, B: number, H: number, relu: boolean): void {
  const { gates: g, hs } = c;
  for (let t = t0; t < t1; t++) {
    const hp = t * B * H; // h_{t-1}
    const hn = hp + B * H; // h_t
    const go = t * B * H;
    gemmNT(B, H, H, hs, hp, H, W, p.whh, H, g, go, H, 1);
    if (relu) for (let i = 0; i < B * H; i++) g[go + i] = g[go + i] > 0 ? g[go + i] : 0;
    else tanhInto(g, go, g, go, B * H);
    hs.set(g.subarray(go, go + B * H), hn);
  }
}

/**
 * Steps t1-1 down to t0: carry.dh += dOut[t]; dG[t] = dh * act'(.); dh_{t-1} = dG[t] W_hh.
 * On exit carry.dh holds dL/dh_{t0-1}. flowH[t] gets ||dL/dh_t|| when given.
 */
export function rnnBackward(
  c: CellCache, dOut: Vec, dG: Vec, carry: CellGradCarry,
  t0: number, t1: number, B: number, H: number, relu: boolean, recurrent: RecurrentProduct, flowH?: Vec,
): void {
  const g = c.gates;
  let dh = carry.dh;
  let dhPrev = carry.dhPrev;
  for (let t = t1 - 1; t >= t0; t--) {
    const go = t * B * H;
    for (let i = 0; i < B * H; i++) dh[i] += dOut[go + i];
    if (flowH) flowH[t] = l2(dh);
    for (let i = 0; i < B * H; i++) {
      const h = g[go + i];
      dG[go + i] = relu ? (h > 0 ? dh[i] : 0) : dh[i] * (1 - h * h);
    }
    recurrent(dG, go, H, 0, H, dhPrev, 0);
    const swap = dh;
    dh = dhPrev;
    dhPrev = swap;
  }
  carry.dh = dh;
  carry.dhPrev = dhPrev;
}
