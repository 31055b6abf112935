/**
 * Singular values of the recurrent weights W_hh, per layer and per gate block.
 *
 * Why: backprop through one vanilla step multiplies the gradient by diag(f'(a_t)) W_hh^T, so
 * ||dh_t/dh_{t-1}|| <= gamma * sigma_1(W_hh) with gamma = sup |f'| (Pascanu, Mikolov, Bengio 2013,
 * "On the difficulty of training recurrent neural networks", sec. 3.1). sigma_1 < 1/gamma is
 * sufficient for vanishing gradients; sigma_1 > 1/gamma is necessary for exploding ones. Each
 * entry therefore carries its `reference` line 1/gamma.
 *
 * Layout read (PyTorch): weight_hh_l{l} is [G*H, H] row-major, gate blocks stacked along the rows
 * (LSTM i, f, g, o; GRU r, z, n; vanilla one block), so block k is the contiguous H x H matrix
 * starting at k*H*H and the stacked matrix is the whole tensor.
 *
 * Cost: a full SVD is O(n^3) and one warm power iteration O(n^2) per block, so sigma_1 is cheap
 * enough for every step and the full spectrum is for every N steps (`spectrumEvery`); the
 * CHANGELOG has the timings that chose the defaults.
 *
 * Reads the network's parameters; never writes them.
 */
import { Matrix, SingularValueDecomposition } from 'ml-matrix';
import type { CellKind, SpectrumEntry } from '../../protocol/config';
import { l2, largestSingularValue } from '../linalg';
import { GATE_NAMES, type Network } from '../network';

export interface SpectrumOptions {
  /** Power iterations when a block has no usable start vector yet (first call, or after NaN). */
  coldIterations?: number;
  /** Power iterations from the previous call's vector: the weights moved by one interval only. */
  warmIterations?: number;
  /** Stop when sigma_1 changes by less than this, relative, between two iterations. */
  tolerance?: number;
}

/** One H x H (or stacked G*H x H) matrix of weight_hh that gets its own spectrum entry. */
export interface RecurrentBlock {
  block: string;
  /** Row offset of the block inside weight_hh (rows of length H). */
  row: number;
  rows: number;
  reference: number;
}

/**
 * Pascanu et al. 2013's 1/gamma for one block. gamma bounds the derivative of the nonlinearity
 * that the block's rows feed: tanh' <= 1 and relu' <= 1 give gamma = 1; sigmoid' <= 1/4 gives
 * gamma = 1/4, so the line is at 4.
 */
export function pascanuReference(cell: CellKind, block: string): number {
  if (cell === 'rnn') return 1; // tanh and relu both have sup |f'| = 1
  if (block === 'all') {
    // The stacked matrix feeds sigmoid and tanh rows at once, so no single gamma is exact. The
    // tightest bound valid for every row is gamma = max(1/4, 1) = 1: ||diag(f') W_all|| <= ||W_all||.
    // (For LSTM/GRU the state Jacobian also has the cell / interpolation paths, so this is a
    // scale line, not Pascanu's theorem.)
    return 1;
  }
  if (block === 'g' || block === 'n') return 1; // tanh candidate
  return 4; // sigmoid gates i, f, o / r, z
}

/** The blocks reported for a cell: the gate blocks (vanilla: 'hh'), then 'all' for LSTM/GRU. */
export function recurrentBlocks(cell: CellKind, hidden: number): RecurrentBlock[] {
  const H = hidden;
  // GATE_NAMES.rnn is ['h'] (the activation), but the matrix is reported as 'hh' (W_hh).
  if (cell === 'rnn') return [{ block: 'hh', row: 0, rows: H, reference: pascanuReference(cell, 'hh') }];
  const names = GATE_NAMES[cell];
  const blocks = names.map((block, k) => ({ block, row: k * H, rows: H, reference: pascanuReference(cell, block) }));
  blocks.push({ block: 'all', row: 0, rows: names.length * H, reference: pascanuReference(cell, 'all') });
  return blocks;
}

/**
 * All min(rows, cols) singular values of W[rows, cols] (row-major at `offset`), sorted descending,
 * by ml-matrix's Golub-Kahan-Reinsch SVD (values only: no U, V, which would cost ~2.5x at 512).
 * Non-finite entries give NaN values instead of a decomposition of garbage.
 */
export function singularValues(W: Float64Array, offset: number, rows: number, cols: number): number[] {
  const n = rows * cols;
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(W[offset + i])) return new Array<number>(Math.min(rows, cols)).fill(NaN);
  }
  const m = Matrix.from1DArray(rows, cols, W.subarray(offset, offset + n));
  const svd = new SingularValueDecomposition(m, {
    computeLeftSingularVectors: false,
    computeRightSingularVectors: false,
    autoTranspose: true,
  });
  // The decomposition already orders them; sorting again costs nothing and makes it a contract.
  return svd.diagonal.slice(0, Math.min(rows, cols)).sort((a, b) => b - a);
}

export class SpectrumTracker {
  /** One power-iteration vector (length H) per `${layer}:${block}`, carried between calls. */
  private readonly vectors = new Map<string, Float64Array>();
  private readonly coldIterations: number;
  private readonly warmIterations: number;
  private readonly tolerance: number;

  constructor(private readonly net: Network, options: SpectrumOptions = {}) {
    this.coldIterations = options.coldIterations ?? 100;
    // Every training step: 4 iterations from the last step's vector. The vector carries on
    // across steps, so over a diagnostics interval sigma_1 gets 100 iterations; a relative
    // change under 1e-9 (far below what a chart shows) ends a call early.
    this.warmIterations = options.warmIterations ?? 4;
    this.tolerance = options.tolerance ?? 1e-9;
  }

  /**
   * sigma_1 of every block of every layer; with `full`, also the whole sorted spectrum (and
   * sigma_1 is then the SVD's, not the power iteration's; the warm-start vectors are left as they
   * were, since getting V from the SVD would cost ~2.5x at 512). Entries in order: layer 0's
   * blocks, then layer 1's, ...
   */
  measure(full: boolean): SpectrumEntry[] {
    const { cell, hidden: H, layers } = this.net.spec;
    const p = this.net.params;
    const blocks = recurrentBlocks(cell, H);
    const out: SpectrumEntry[] = [];
    for (let l = 0; l < layers; l++) {
      const base = p.spec(`weight_hh_l${l}`).offset;
      for (const b of blocks) {
        const offset = base + b.row * H;
        if (full) {
          const s = singularValues(p.data, offset, b.rows, H);
          out.push({ layer: l, block: b.block, sigma1: s[0], singularValues: s, reference: b.reference });
        } else {
          const sigma1 = this.powerIteration(`${l}:${b.block}`, offset, b.rows, H);
          out.push({ layer: l, block: b.block, sigma1, reference: b.reference });
        }
      }
    }
    return out;
  }

  /** Forgets the warm-start vectors (e.g. after loading other weights). */
  reset(): void {
    this.vectors.clear();
  }

  private powerIteration(key: string, offset: number, rows: number, cols: number): number {
    let v = this.vectors.get(key);
    if (!v) {
      v = new Float64Array(cols);
      this.vectors.set(key, v);
    }
    // A zero vector (never used) or a NaN one (weights diverged once) makes linalg restart from
    // its fixed start vector, so that call needs the cold budget.
    const warm = l2(v) > 0;
    return largestSingularValue(this.net.params.data, offset, rows, cols, v, warm ? this.warmIterations : this.coldIterations, this.tolerance);
  }
}
