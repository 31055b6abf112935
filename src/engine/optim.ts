/**
 * Gradient clipping and optimizers, each one loop over the flat parameter and gradient buffers.
 */
import type { ClipMode, OptimizerKind } from '../protocol/config';
import { l2 } from './linalg';

export interface ClipResult {
  /** Global L2 norm before clipping: sqrt(sum g^2), the true norm, not its square. */
  norm: number;
  /** Global L2 norm after clipping. */
  clippedNorm: number;
  clipped: boolean;
}

export function globalNorm(g: Float64Array): number {
  return l2(g);
}

/** g <- g * t / ||g|| when ||g|| > t (Pascanu et al. 2013). */
export function clipByGlobalNorm(g: Float64Array, threshold: number, norm = globalNorm(g)): ClipResult {
  if (!(norm > threshold)) return { norm, clippedNorm: norm, clipped: false };
  const s = threshold / norm;
  for (let i = 0; i < g.length; i++) g[i] *= s;
  return { norm, clippedNorm: globalNorm(g), clipped: true };
}

/** Clamps every component to [-t, t]. */
export function clipByValue(g: Float64Array, threshold: number, norm = globalNorm(g)): ClipResult {
  let clipped = false;
  for (let i = 0; i < g.length; i++) {
    if (g[i] > threshold) {
      g[i] = threshold;
      clipped = true;
    } else if (g[i] < -threshold) {
      g[i] = -threshold;
      clipped = true;
    }
  }
  return { norm, clippedNorm: clipped ? globalNorm(g) : norm, clipped };
}

/** `norm`, when the caller has it (sqrt of the sum of its per-tensor squares), saves one pass over g. */
export function clipGradients(g: Float64Array, mode: ClipMode, threshold: number, norm = globalNorm(g)): ClipResult {
  if (mode === 'norm') return clipByGlobalNorm(g, threshold, norm);
  if (mode === 'value') return clipByValue(g, threshold, norm);
  return { norm, clippedNorm: norm, clipped: false };
}

export interface OptimizerOptions {
  kind: OptimizerKind;
  momentum: number; // SGD momentum
  beta1: number;
  beta2: number;
  rho: number; // RMSProp decay
  eps: number;
}

export const DEFAULT_OPTIMIZER: Omit<OptimizerOptions, 'kind'> = { momentum: 0, beta1: 0.9, beta2: 0.999, rho: 0.99, eps: 1e-8 };

/**
 * One optimizer over the flat buffers. Its state (moment buffers and step count) is plain data so
 * it can be saved beside a checkpoint and restored for an exact resume.
 */
export class Optimizer {
  t = 0;
  m: Float64Array;
  v: Float64Array;

  constructor(
    readonly size: number,
    readonly opts: OptimizerOptions,
  ) {
    const needM = opts.kind === 'adam' || (opts.kind === 'sgd' && opts.momentum > 0);
    const needV = opts.kind !== 'sgd';
    this.m = new Float64Array(needM ? size : 0);
    this.v = new Float64Array(needV ? size : 0);
  }

  /**
   * One update of w from g. With `prev`, w's values before the update are copied into it in the
   * same pass (what a divergence guard restores). Returns whether every updated weight is finite
   * (x * 0 is 0 for finite x, NaN otherwise), also counted in that pass: one sweep over the
   * parameters instead of three (update, copy, check).
   */
  step(w: Float64Array, g: Float64Array, lr: number, prev?: Float64Array): boolean {
    const o = this.opts;
    const { m, v } = this;
    const n = w.length;
    if (prev && prev.length < n) throw new RangeError(`prev holds ${prev.length} values, the update ${n}`);
    this.t++;
    // Without prev the old value is stored into w itself, right before the new one overwrites it.
    const keep = prev ?? w;
    let check = 0;
    switch (o.kind) {
      case 'sgd': {
        const mu = o.momentum;
        if (mu > 0) {
          // PyTorch form: m <- mu m + g; w <- w - lr m
          for (let i = 0; i < n; i++) {
            const wi = w[i];
            keep[i] = wi;
            const mi = mu * m[i] + g[i];
            m[i] = mi;
            const next = wi - lr * mi;
            w[i] = next;
            check += next * 0;
          }
        } else {
          for (let i = 0; i < n; i++) {
            const wi = w[i];
            keep[i] = wi;
            const next = wi - lr * g[i];
            w[i] = next;
            check += next * 0;
          }
        }
        break;
      }
      case 'adam': {
        // Kingma & Ba 2015, bias-corrected, in PyTorch's arrangement:
        //   w -= (lr / c1) m / (sqrt(v) / sqrt(c2) + eps)
        // One division and one square root per weight: the loop is bound by their throughput
        // (three divisions made Adam ~9% of a batch-1 step).
        const b1 = o.beta1, b2 = o.beta2, eps = o.eps;
        const stepSize = lr / (1 - Math.pow(b1, this.t));
        const rootC2 = 1 / Math.sqrt(1 - Math.pow(b2, this.t));
        for (let i = 0; i < n; i++) {
          const wi = w[i];
          keep[i] = wi;
          const gi = g[i];
          const mi = b1 * m[i] + (1 - b1) * gi;
          const vi = b2 * v[i] + (1 - b2) * gi * gi;
          m[i] = mi;
          v[i] = vi;
          const next = wi - (stepSize * mi) / (Math.sqrt(vi) * rootC2 + eps);
          w[i] = next;
          check += next * 0;
        }
        break;
      }
      case 'rmsprop': {
        // Tieleman & Hinton 2012: v <- rho v + (1 - rho) g^2; w <- w - lr g / (sqrt(v) + eps)
        const rho = o.rho, eps = o.eps;
        for (let i = 0; i < n; i++) {
          const wi = w[i];
          keep[i] = wi;
          const gi = g[i];
          const vi = rho * v[i] + (1 - rho) * gi * gi;
          v[i] = vi;
          const next = wi - (lr * gi) / (Math.sqrt(vi) + eps);
          w[i] = next;
          check += next * 0;
        }
        break;
      }
      case 'adagrad': {
        // Duchi et al. 2011: v <- v + g^2; w <- w - lr g / (sqrt(v) + eps)
        const eps = o.eps;
        for (let i = 0; i < n; i++) {
          const wi = w[i];
          keep[i] = wi;
          const gi = g[i];
          const vi = v[i] + gi * gi;
          v[i] = vi;
          const next = wi - (lr * gi) / (Math.sqrt(vi) + eps);
          w[i] = next;
          check += next * 0;
        }
        break;
      }
    }
    return check === 0;
  }

  /** The state an exact resume needs: step count and the moment buffers (copies). */
  exportState(): OptimizerState {
    return { kind: this.opts.kind, t: this.t, m: this.m.slice(), v: this.v.slice() };
  }

  /** Restores exportState()'s output; refuses state of another optimizer or model size. */
  importState(s: OptimizerState): void {
    if (s.kind !== this.opts.kind) throw new Error(`optimizer state is for ${s.kind}, this run uses ${this.opts.kind}`);
    if (s.m.length !== this.m.length || s.v.length !== this.v.length) {
      throw new Error(`optimizer state has ${s.m.length}/${s.v.length} moment values, this model needs ${this.m.length}/${this.v.length}`);
    }
    if (!Number.isInteger(s.t) || s.t < 0) throw new Error(`optimizer step count ${s.t} is not a whole number >= 0`);
    this.t = s.t;
    this.m.set(s.m);
    this.v.set(s.v);
  }
}

export interface OptimizerState {
  kind: OptimizerKind;
  /** Updates applied so far (Adam's bias correction uses it). */
  t: number;
  /** First moment (Adam) or momentum buffer (SGD); empty when unused. */
  m: Float64Array;
  /** Second moment (Adam, RMSProp) or sum of squares (Adagrad); empty when unused. */
  v: Float64Array;
}
