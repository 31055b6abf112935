/**
 * GRU cell, both variants (gate order r, z, n):
 *   r = s(W_ir x + b_ir + W_hr h + b_hr),  z = s(W_iz x + b_iz + W_hz h + b_hz)
 *   reset after:  n = tanh(W_in x + b_in + r (W_hn h + b_hn))      (PyTorch nn.GRU, cuDNN)
 *   reset before: n = tanh(W_in x + b_in + W_hn (r h) + b_hn)      (Cho et al. 2014)
 *   h' = (1 - z) n + z h
 *
 * Shapes as in ./cell.ts (G = 3): gates (T,B,3H) holds X W_ih^T + b_ih on entry (b_hh is added
 * here, since b_hn sits inside r * (...)) and r, z, n on exit; hs (T+1,B,H); aux (T,B,H) keeps
 * h W_hn^T + b_hn (reset after) or r * h_{t-1} (reset before); dG (T,B,3H), dAux (T,B,H).
 * `scratch` holds at least B*3H values.
 */
import { gemmNT, l2, sigmoidInto, tanhInto, type Vec } from '../linalg';
import { f32 } from '../wasm/kernels';
import type { CellCache, CellGradCarry, CellParams, RecurrentProduct } from './cell';

export function gruForward(
  W: Vec, p: CellParams, c: CellCache, t0: number, t1: number, B: number, H: number, resetAfter: boolean, scratch: Vec,
): void {
  const GH = 3 * H;
  const { gates: g, hs, aux } = c;
  const hg = scratch;
  const bhh = p.bhh;
  for (let t = t0; t < t1; t++) {
    const hp = t * B * H; // h_{t-1}
    const hn = hp + B * H; // h_t
    const go = t * B * GH;
    if (resetAfter) {
      // h_{t-1} W_hh^T + b_hh is needed for all three blocks; aux keeps only the n block.
      gemmNT(B, GH, H, hs, hp, H, W, p.whh, H, hg, 0, GH, 0);
      // Float32 in the kernels' arena: the whole gate pass in one f32x4 kernel.
      if (g instanceof Float32Array && f32.gruForwardGates(g, go, hg, W, bhh, hs, hp, hn, aux, t * B * H, B, H)) continue;
      for (let b = 0; b < B; b++) {
        const row = go + b * GH;
        for (let j = 0; j < 2 * H; j++) g[row + j] = g[row + j] + hg[b * GH + j] + W[bhh + j];
        sigmoidInto(g, row, g, row, 2 * H); // r, z
        for (let j = 0; j < H; j++) {
          const hnPre = hg[b * GH + 2 * H + j] + W[bhh + 2 * H + j];
          aux[t * B * H + b * H + j] = hnPre;
          g[row + 2 * H + j] += g[row + j] * hnPre;
        }
        tanhInto(g, row + 2 * H, g, row + 2 * H, H); // n
        for (let j = 0; j < H; j++) {
          const z = g[row + H + j];
          hs[hn + b * H + j] = (1 - z) * g[row + 2 * H + j] + z * hs[hp + b * H + j];
        }
      }
    } else {
      gemmNT(B, 2 * H, H, hs, hp, H, W, p.whh, H, hg, 0, GH, 0);
      const ao = t * B * H;
      for (let b = 0; b < B; b++) {
        const row = go + b * GH;
        for (let j = 0; j < 2 * H; j++) g[row + j] = g[row + j] + hg[b * GH + j] + W[bhh + j];
        sigmoidInto(g, row, g, row, 2 * H); // r, z
        for (let j = 0; j < H; j++) aux[ao + b * H + j] = g[row + j] * hs[hp + b * H + j];
      }
      // (r * h_{t-1}) W_hn^T
      gemmNT(B, H, H, aux, ao, H, W, p.whh + 2 * H * H, H, hg, 0, GH, 0);
      for (let b = 0; b < B; b++) {
        const row = go + b * GH;
        for (let j = 0; j < H; j++) g[row + 2 * H + j] = g[row + 2 * H + j] + hg[b * GH + j] + W[bhh + 2 * H + j];
        tanhInto(g, row + 2 * H, g, row + 2 * H, H); // n
        for (let j = 0; j < H; j++) {
          const z = g[row + H + j];
          hs[hn + b * H + j] = (1 - z) * g[row + 2 * H + j] + z * hs[hp + b * H + j];
        }
      }
    }
  }
}

/** Steps t1-1 down to t0; carry as in ./cell.ts. flowH[t] gets ||dL/dh_t|| when given. */
export function gruBackward(
  c: CellCache, dOut: Vec, dG: Vec, dAux: Vec, carry: CellGradCarry,
  t0: number, t1: number, B: number, H: number, resetAfter: boolean, recurrent: RecurrentProduct, flowH?: Vec,
): void {
  const GH = 3 * H;
  const { gates: g, hs, aux } = c;
  const drh = carry.drh;
  let dh = carry.dh;
  let dhPrev = carry.dhPrev;
  for (let t = t1 - 1; t >= t0; t--) {
    const hp = t * B * H;
    const go = t * B * GH;
    const oo = t * B * H;
    if (!(dh instanceof Float32Array && f32.addInto(dh, 0, dOut, oo, B * H))) for (let i = 0; i < B * H; i++) dh[i] += dOut[oo + i];
    if (flowH) flowH[t] = l2(dh);
    // Float32 in the kernels' arena, reset after: the whole gate pass (dr, dz, dn, dAux) in one f32x4 kernel.
    const fused = resetAfter && g instanceof Float32Array && f32.gruBackwardGates(g, go, hs, hp, aux, oo, dh, dG, dAux, B, H);
    if (!fused) {
      for (let b = 0; b < B; b++) {
        const row = go + b * GH;
        for (let j = 0; j < H; j++) {
          const k = b * H + j;
          const z = g[row + H + j], n = g[row + 2 * H + j];
          const hprev = hs[hp + k];
          dG[row + H + j] = dh[k] * (hprev - n) * z * (1 - z);
          dG[row + 2 * H + j] = dh[k] * (1 - z) * (1 - n * n);
        }
      }
    }
    if (resetAfter) {
      if (!fused) for (let b = 0; b < B; b++) {
        const row = go + b * GH;
        for (let j = 0; j < H; j++) {
          const r = g[row + j];
          const dnp = dG[row + 2 * H + j];
          dG[row + j] = dnp * aux[oo + b * H + j] * r * (1 - r);
          dAux[oo + b * H + j] = dnp * r;
        }
      }
      recurrent(dG, go, GH, 0, 2 * H, dhPrev, 0);
      recurrent(dAux, oo, H, 2 * H, H, dhPrev, 1);
    } else {
      // d(r h) = dn_pre W_hn
      recurrent(dG, go + 2 * H, GH, 2 * H, H, drh, 0);
      for (let b = 0; b < B; b++) {
        const row = go + b * GH;
        for (let j = 0; j < H; j++) {
          const k = b * H + j;
          const r = g[row + j];
          dG[row + j] = drh[k] * hs[hp + k] * r * (1 - r);
        }
      }
      recurrent(dG, go, GH, 0, 2 * H, dhPrev, 0);
      // dh_{t-1} += d(r h) r
      if (!(dhPrev instanceof Float32Array && f32.mulAddRows(dhPrev, drh, g, go, GH, B, H))) {
        for (let b = 0; b < B; b++) {
          for (let j = 0; j < H; j++) dhPrev[b * H + j] += drh[b * H + j] * g[go + b * GH + j];
        }
      }
    }
    // dh_{t-1} += dh z
    if (!(dhPrev instanceof Float32Array && f32.mulAddRows(dhPrev, dh, g, go + H, GH, B, H))) {
      for (let b = 0; b < B; b++) {
        for (let j = 0; j < H; j++) dhPrev[b * H + j] += dh[b * H + j] * g[go + b * GH + H + j];
      }
    }
    const swap = dh;
    dh = dhPrev;
    dhPrev = swap;
  }
  carry.dh = dh;
  carry.dhPrev = dhPrev;
}
