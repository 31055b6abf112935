/**
 * Initialisation. Input and head weights: Glorot/Xavier uniform per gate block. W_hh per gate
 * block: orthogonal (Saxe et al. 2014), identity (IRNN, Le et al. 2015) or Gaussian; each then
 * scaled so that its largest singular value is `hiddenScale`: the knob for the seeds' vanishing
 * (sigma_1 < 1) and exploding (sigma_1 > 1) experiments. Biases zero except the LSTM forget
 * gate (Jozefowicz et al. 2015: 1).
 */
import type { HiddenInit } from '../protocol/config';
import { largestSingularValue } from './linalg';
import type { Network } from './network';
import type { Rng } from './random';

export interface InitOptions {
  hiddenInit: HiddenInit;
  hiddenScale: number;
  forgetBias: number;
}

export function initialize(net: Network, rng: Rng, opts: InitOptions): void {
  const p = net.params;
  const H = net.spec.hidden;
  const G = net.gates;
  p.data.fill(0);
  if (p.has('embedding.weight')) {
    const e = p.view('embedding.weight');
    const E = p.spec('embedding.weight').shape[1];
    for (let i = 0; i < e.length; i++) e[i] = rng.normal() / Math.sqrt(E);
  }
  for (let l = 0; l < net.spec.layers; l++) {
    const I = p.spec(`weight_ih_l${l}`).shape[1];
    const wih = p.view(`weight_ih_l${l}`);
    const a = Math.sqrt(6 / (I + H));
    for (let i = 0; i < wih.length; i++) wih[i] = (2 * rng.uniform() - 1) * a;
    const whh = p.view(`weight_hh_l${l}`);
    for (let g = 0; g < G; g++) {
      const block = whh.subarray(g * H * H, (g + 1) * H * H);
      recurrentBlock(block, H, rng, opts.hiddenInit, opts.hiddenScale);
    }
    if (net.spec.cell === 'lstm') p.view(`bias_ih_l${l}`).fill(opts.forgetBias, H, 2 * H);
  }
  if (p.has('head.weight')) {
    const [O] = p.spec('head.weight').shape;
    const w = p.view('head.weight');
    const a = Math.sqrt(6 / (O + H));
    for (let i = 0; i < w.length; i++) w[i] = (2 * rng.uniform() - 1) * a;
  }
}

/** Fills an H x H block and rescales it to sigma_1 = scale. */
export function recurrentBlock(W: Float64Array, H: number, rng: Rng, kind: HiddenInit, scale: number): void {
  if (kind === 'identity') {
    W.fill(0);
    for (let i = 0; i < H; i++) W[i * H + i] = 1;
  } else {
    for (let i = 0; i < H * H; i++) W[i] = rng.normal();
    if (kind === 'orthogonal') orthonormalizeRows(W, H);
  }
  const sigma = kind === 'gaussian' ? largestSingularValue(W, 0, H, H, new Float64Array(H), 500, 1e-13) : 1;
  for (let i = 0; i < H * H; i++) W[i] *= scale / sigma;
}

/** Modified Gram-Schmidt on the rows of a square matrix (twice, for orthogonality to round-off). */
export function orthonormalizeRows(W: Float64Array, n: number): void {
  for (let pass = 0; pass < 2; pass++) {
    for (let i = 0; i < n; i++) {
      for (let k = 0; k < i; k++) {
        let d = 0;
        for (let j = 0; j < n; j++) d += W[i * n + j] * W[k * n + j];
        for (let j = 0; j < n; j++) W[i * n + j] -= d * W[k * n + j];
      }
      let s = 0;
      for (let j = 0; j < n; j++) s += W[i * n + j] * W[i * n + j];
      s = Math.sqrt(s);
      for (let j = 0; j < n; j++) W[i * n + j] /= s;
    }
  }
}
