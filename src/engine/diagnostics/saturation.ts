/**
 * Gate saturation (Karpathy, Johnson, Fei-Fei 2015, "Visualizing and Understanding Recurrent
 * Networks", sec. 4.3): per gate and unit, the fraction of samples where the gate is
 * left-saturated (sigmoid < 0.1, tanh < -0.9) or right-saturated (sigmoid > 0.9, tanh > 0.9).
 * A saturated unit passes almost no gradient through its own nonlinearity: s' = s(1 - s) < 0.09,
 * tanh' = 1 - t^2 < 0.19.
 *
 * Samples are the T*B (time step, stream) pairs of the network's last forward: the activations
 * are read from `layerGates(l)`, (T,B,G*H) time-major, so every (t, b) is one row of G*H values and
 * gate k of unit j sits at column k*H + j. Reads; never writes.
 */
import type { CellKind, SaturationEntry } from '../../protocol/config';
import { GATE_NAMES, type Network } from '../network';
import type { Vec } from '../linalg';

/**
 * 'relu' (vanilla RNN with relu) is not in the paper: left counts samples where the unit is
 * exactly 0 (dead, zero gradient), right is always 0 (relu has no upper saturation).
 */
export type SaturationKind = 'sigmoid' | 'tanh' | 'relu';

/** Thresholds of Karpathy et al. 2015; strict, so a value exactly on a threshold is not saturated. */
const LEFT: Record<SaturationKind, number> = { sigmoid: 0.1, tanh: -0.9, relu: 0 };
const RIGHT: Record<SaturationKind, number> = { sigmoid: 0.9, tanh: 0.9, relu: Infinity };

export type Saturation = Pick<SaturationEntry, 'left' | 'right' | 'unitLeft' | 'unitRight'>;

/**
 * Saturation of one gate over `rows` samples: `acts` is (rows, stride) row-major and the gate's H
 * units are columns offset..offset+H-1. unitLeft[j] / unitRight[j] are unit j's fractions of rows;
 * left / right are their means over units. NaN activations count as neither. With `mask`, only
 * the rows r with mask[r] !== 0 are samples (a padded batch's real steps); the fractions are of
 * those rows, and all-zero gives fractions of 0.
 */
export function saturationOf(
  acts: Vec, rows: number, stride: number, offset: number, H: number, kind: SaturationKind, mask?: ArrayLike<number>,
): Saturation {
  if (!(rows >= 1) || !(H >= 1)) throw new RangeError(`saturation needs at least one row and one unit (rows ${rows}, H ${H})`);
  if (offset < 0 || offset + H > stride) throw new RangeError(`gate columns ${offset}..${offset + H - 1} outside a row of ${stride}`);
  if (acts.length < rows * stride) throw new RangeError(`${acts.length} activations for ${rows} rows of ${stride}`);
  const nLeft = new Float64Array(H);
  const nRight = new Float64Array(H);
  const lo = LEFT[kind];
  const hi = RIGHT[kind];
  // Row-major sweep: each row's H gate values are contiguous.
  let counted = 0;
  for (let r = 0; r < rows; r++) {
    if (mask && !mask[r]) continue;
    counted++;
    const o = r * stride + offset;
    for (let j = 0; j < H; j++) {
      const a = acts[o + j];
      if (kind === 'relu' ? a === 0 : a < lo) nLeft[j]++;
      else if (a > hi) nRight[j]++;
    }
  }
  const unitLeft = Array.from(nLeft, (n) => n / Math.max(counted, 1));
  const unitRight = Array.from(nRight, (n) => n / Math.max(counted, 1));
  return {
    left: unitLeft.reduce((a, b) => a + b, 0) / H,
    right: unitRight.reduce((a, b) => a + b, 0) / H,
    unitLeft,
    unitRight,
  };
}

/** The nonlinearity behind each gate's activations. */
export function gateKind(cell: CellKind, rnnActivation: 'tanh' | 'relu', gate: string): SaturationKind {
  if (cell === 'rnn') return rnnActivation;
  return gate === 'g' || gate === 'n' ? 'tanh' : 'sigmoid'; // LSTM candidate g, GRU candidate n
}

/**
 * Saturation of every gate of every layer over the last forward (the caller chooses which data:
 * the training chunk, or a forward over validation data). Order: layer 0's gates in PyTorch order
 * (LSTM i, f, g, o; GRU r, z, n; vanilla h), then layer 1's, ... Empty before any forward.
 */
export function gateSaturation(net: Network): SaturationEntry[] {
  const rows = net.lastT * net.lastB;
  if (rows === 0) return [];
  const { cell, rnnActivation, hidden: H, layers } = net.spec;
  const names = GATE_NAMES[cell];
  const stride = names.length * H;
  const out: SaturationEntry[] = [];
  for (let l = 0; l < layers; l++) {
    const acts = net.layerGates(l);
    names.forEach((gate, k) => {
      out.push({ layer: l, gate, ...saturationOf(acts, rows, stride, k * H, H, gateKind(cell, rnnActivation, gate)) });
    });
  }
  return out;
}
