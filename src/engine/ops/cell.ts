/**
 * What every recurrent cell op shares: the per-layer cache, the carried gradient, the input
 * projection (one product for a whole range of steps), the parameter and input gradients, and the
 * recurrent product of the backward pass.
 *
 * Shapes (time-major, so one step's batch is one contiguous block):
 *   T time steps, B streams, I input size of the layer, H hidden size, G gates (1, 4 or 3)
 *   X      (T,B,I)     layer input
 *   gates  (T,B,G*H)   first X W_ih^T + b_ih (+ b_hh), then h_{t-1} W_hh^T is added and the
 *                      nonlinearities applied in place: it ends holding the gate activations
 *   hs     (T+1,B,H)   hs[0] = h_0 (the carried state), hs[t+1] = h_t
 *   cs     (T+1,B,H)   LSTM cell states, same indexing
 *   tc     (T,B,H)     LSTM only: tanh(c_t)
 *   aux    (T,B,H)     GRU only: reset-after keeps h W_hn^T + b_hn, reset-before keeps r * h_{t-1}
 *   dG     (T,B,G*H)   gradient of the gate pre-activations; dAux (T,B,H) the GRU's of aux
 * Gate order per row follows PyTorch: LSTM i, f, g, o; GRU r, z, n.
 *
 * A cell runs over steps [t0, t1) of its cache: [0, T) for a whole sequence (the language model,
 * the encoder) or [t, t + 1) for one step at a time with the state carried in hs / cs (the
 * decoder with input feeding). The backward pass runs [t0, t1) in reverse and carries dL/dh (and
 * dL/dc) in a CellGradCarry between calls, so the same split works backwards.
 */
import type { CellKind, GruVariant } from '../../protocol/config';
import { addColumnSums, addRowVector, gatherColumnsAdd, gemmNN, gemmNT, gemmTN, scatterColumnsAdd, transposeInto, type Vec } from '../linalg';

/** Allocates a zeroed array of the engine's precision (Network.alloc). */
export type Alloc = (n: number) => Vec;
const alloc64: Alloc = (n) => new Float64Array(n);

export const GATE_NAMES: Record<CellKind, string[]> = {
  rnn: ['h'],
  lstm: ['i', 'f', 'g', 'o'],
  gru: ['r', 'z', 'n'],
};

export interface CellSpec {
  cell: CellKind;
  gruVariant: GruVariant;
  rnnActivation: 'tanh' | 'relu';
  hidden: number;
}

/** Offsets of one layer's four tensors in the flat parameter buffer (PyTorch names *_l<k>). */
export interface CellParams {
  wih: number; // weight_ih [G*H, I]
  whh: number; // weight_hh [G*H, H]
  bih: number; // bias_ih [G*H]
  bhh: number; // bias_hh [G*H]
}

export interface CellCache {
  gates: Vec;
  hs: Vec;
  cs: Vec;
  tc: Vec;
  aux: Vec;
}

/** dL/dh (and dL/dc) at the current step of a backward pass; dhPrev and drh are scratch (B,H). */
export interface CellGradCarry {
  dh: Vec;
  dhPrev: Vec;
  dc: Vec;
  drh: Vec;
}

export function gateCount(cell: CellKind): number {
  return GATE_NAMES[cell].length;
}

export function newCellCache(spec: CellSpec, T: number, B: number, alloc: Alloc = alloc64): CellCache {
  const H = spec.hidden;
  const lstm = spec.cell === 'lstm';
  const gru = spec.cell === 'gru';
  return {
    gates: alloc(T * B * gateCount(spec.cell) * H),
    hs: alloc((T + 1) * B * H),
    cs: alloc(lstm ? (T + 1) * B * H : 0),
    tc: alloc(lstm ? T * B * H : 0),
    aux: alloc(gru ? T * B * H : 0),
  };
}

export function newCellGradCarry(spec: CellSpec, B: number, alloc: Alloc = alloc64): CellGradCarry {
  const n = B * spec.hidden;
  return {
    dh: alloc(n),
    dhPrev: alloc(n),
    dc: alloc(spec.cell === 'lstm' ? n : 0),
    drh: alloc(spec.cell === 'gru' && spec.gruVariant !== 'reset_after' ? n : 0),
  };
}

/**
 * The biases added to every row of the input projection: b_ih, and b_hh too where it is
 * unconditional (rnn and lstm; the GRU's b_hn sits inside r * (...), so its b_hh is added in the
 * recurrence). Written into `bias` (G*H).
 */
export function cellRowBias(spec: CellSpec, W: Vec, p: CellParams, bias: Vec): void {
  const GH = bias.length;
  for (let j = 0; j < GH; j++) bias[j] = spec.cell === 'gru' ? W[p.bih + j] : W[p.bih + j] + W[p.bhh + j];
}

/** gates[rows] = X W_ih^T + bias for `rows` rows of X (rows, I) at xOff (ld I); gates at gOff (ld G*H). */
export function cellInputForward(
  rows: number, I: number, GH: number,
  X: Vec, xOff: number, ldx: number,
  W: Vec, p: CellParams, bias: Vec,
  gates: Vec, gOff: number,
): void {
  gemmNT(rows, GH, I, X, xOff, ldx, W, p.wih, I, gates, gOff, GH, 0);
  addRowVector(rows, GH, gates, gOff, GH, bias, 0);
}

/**
 * Parameter gradients of one layer over `rows` = (steps x B) rows of dG starting at row r0:
 * dW_ih += dG^T X (when X is given; one-hot inputs scatter instead), db_ih += column sums of dG,
 * dW_hh += dG_h^T [h_{t-1}], db_hh likewise. `db` is (G*H) scratch.
 */
export function cellParamBackward(
  spec: CellSpec, rows: number, r0: number, I: number,
  X: Vec | null, xOff: number, ldx: number,
  cache: CellCache, dG: Vec, dAux: Vec,
  gr: Vec, p: CellParams, db: Vec,
): void {
  const H = spec.hidden;
  const GH = db.length;
  const N = rows;
  const gOff = r0 * GH;
  const hOff = r0 * H;
  if (X) gemmTN(GH, I, N, dG, gOff, GH, X, xOff, ldx, gr, p.wih, I, 1);
  // db_ih = the sum of dG's rows. db_hh is the same sum wherever b_hh adds to the same
  // pre-activation as b_ih: every block but the reset-after GRU's b_hn (inside r * (...)).
  db.fill(0);
  addColumnSums(N, GH, dG, gOff, GH, db, 0);
  for (let j = 0; j < GH; j++) gr[p.bih + j] += db[j];
  // dW_hh = dG_h^T [h_0..h_{T-1}], where dG_h is the gradient of the recurrent pre-activations.
  if (spec.cell !== 'gru') {
    gemmTN(GH, H, N, dG, gOff, GH, cache.hs, hOff, H, gr, p.whh, H, 1);
    for (let j = 0; j < GH; j++) gr[p.bhh + j] += db[j];
  } else {
    gemmTN(2 * H, H, N, dG, gOff, GH, cache.hs, hOff, H, gr, p.whh, H, 1);
    for (let j = 0; j < 2 * H; j++) gr[p.bhh + j] += db[j];
    if (spec.gruVariant === 'reset_after') {
      gemmTN(H, H, N, dAux, hOff, H, cache.hs, hOff, H, gr, p.whh + 2 * H * H, H, 1);
      addColumnSums(N, H, dAux, hOff, H, gr, p.bhh + 2 * H);
    } else {
      gemmTN(H, H, N, dG, gOff + 2 * H, GH, cache.aux, hOff, H, gr, p.whh + 2 * H * H, H, 1);
      for (let j = 2 * H; j < GH; j++) gr[p.bhh + j] += db[j];
    }
  }
}

/** dX = dG W_ih for `rows` rows of dG at row r0: the gradient into the layer's input (rows, I) at dxOff (ld I). */
export function cellInputBackward(
  rows: number, r0: number, I: number, GH: number,
  dG: Vec, W: Vec, p: CellParams,
  dX: Vec, dxOff: number, beta: 0 | 1 = 0,
): void {
  gemmNN(rows, I, GH, dG, r0 * GH, GH, W, p.wih, I, dX, dxOff, I, beta);
}

/**
 * dst[B, H] (+)= src[B, rows] W_hh[r0..r0+rows): the recurrent product of the backward pass.
 * Batch 1: gemmNN's single-row path, eight rows of W_hh as they are per pass. Larger batches:
 * W_hh^T [H, G*H] once per call of recurrentProduct, then rows dotted with rows (gemmNT's
 * register tiles). `scratchT` must hold G*H*H values when B > 1.
 */
export type RecurrentProduct = (src: Vec, sOff: number, ld: number, r0: number, rows: number, dst: Vec, beta: 0 | 1) => void;

export function recurrentProduct(W: Vec, whh: number, B: number, GH: number, H: number, scratchT: Vec): RecurrentProduct {
  if (B > 1) transposeInto(GH, H, W, whh, H, scratchT);
  return (src, sOff, ld, r0, rows, dst, beta) => {
    if (B === 1) gemmNN(1, H, rows, src, sOff, ld, W, whh + r0 * H, H, dst, 0, H, beta);
    else gemmNT(B, H, rows, src, sOff, ld, scratchT, r0, GH, dst, 0, H, beta);
  };
}

/**
 * Layer 0 with one-hot inputs: x W_ih^T is column x of W_ih, so the projection is a lookup.
 * tokens (N); gates (N, G*H); W_ih [G*H, V].
 */
export function onehotInputForward(N: number, GH: number, V: number, tokens: Int32Array, W: Vec, p: CellParams, bias: Vec, gates: Vec): void {
  gatherColumnsAdd(N, GH, V, tokens, W, p.wih, bias, 0, gates, 0);
}

/** dW_ih[:, x] += dG for one-hot inputs (the scatter that replaces dG^T X). */
export function onehotInputBackward(N: number, GH: number, V: number, tokens: Int32Array, dG: Vec, gr: Vec, p: CellParams): void {
  scatterColumnsAdd(N, GH, V, tokens, dG, 0, gr, p.wih);
}

/** The offsets of `<prefix>weight_ih_l<l>` and its three siblings. */
export function cellParamsOf(store: { spec(name: string): { offset: number } }, prefix: string, l: number): CellParams {
  return {
    wih: store.spec(`${prefix}weight_ih_l${l}`).offset,
    whh: store.spec(`${prefix}weight_hh_l${l}`).offset,
    bih: store.spec(`${prefix}bias_ih_l${l}`).offset,
    bhh: store.spec(`${prefix}bias_hh_l${l}`).offset,
  };
}
