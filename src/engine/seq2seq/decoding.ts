/**
 * Decoding a trained seq2seq model: greedy, beam search (GNMT length penalty) and sampling with a
 * temperature, over one interface the model implements (StepDecoder). PAD and BOS are never
 * emitted (their log-probabilities are ignored); EOS ends a hypothesis and is not part of its
 * tokens. Every decoder returns the tokens and one attention row per decoder step it took (the
 * EOS step included when it finished), so rows.length is tokens.length + 1 when finished.
 *
 * Length limit: at most maxSteps(n) = ceil(maxLenRatio · n) + maxLenExtra decoder steps for a source
 * of n tokens (EOS step included); a hypothesis that has not emitted EOS by then is unfinished.
 */
import type { Rng } from '../random';
import { BOS, EOS, PAD } from './vocab';

export interface StepDecoder<S> {
  /** Runs the encoder on one source (ids, no PAD) and returns the decoder's initial state. */
  start(src: readonly number[]): S;
  /** One decoder step from `state` fed `token`: log-probabilities over the target vocabulary (length V_tgt),
   *  the attention over the source (length src.length; undefined for attention "none"), and the next state.
   *  Must not mutate `state` (beam search branches from it). */
  step(state: S, token: number): { logProbs: Float64Array; attention?: Float64Array; state: S };
}

export interface LengthLimit {
  /** Default 1.5. */
  maxLenRatio?: number;
  /** Default 5. */
  maxLenExtra?: number;
}

export interface Decoded {
  /** Output ids, EOS excluded. */
  tokens: number[];
  /** One attention row per decoder step (copies); [] when the model has no attention. */
  attention: Float64Array[];
  /** Σ log p of the emitted tokens, EOS included when finished. */
  logProb: number;
  /** Whether it ended with EOS (false: stopped at the length limit). */
  finished: boolean;
}

export interface BeamDecoded extends Decoded {
  /** logProb / lp(|Y|), |Y| = tokens.length + 1 when finished (the EOS counts), else tokens.length. */
  score: number;
  /** The finished hypotheses, best first (the first is this one when it is finished). */
  hypotheses: (Decoded & { score: number })[];
}

export function maxSteps(srcLength: number, limit: LengthLimit = {}): number {
  const ratio = limit.maxLenRatio ?? 1.5;
  const extra = limit.maxLenExtra ?? 5;
  if (!(ratio >= 0) || !Number.isInteger(extra) || extra < 0) throw new Error(`decoding: maxLenRatio ${ratio} and maxLenExtra ${extra} must be >= 0 (extra a whole number)`);
  return Math.max(1, Math.ceil(ratio * srcLength) + extra);
}

/** GNMT length penalty (Wu et al. 2016, eq. 14): lp(Y) = (5 + |Y|)^α / (5 + 1)^α. */
export function lengthPenalty(length: number, alpha: number): number {
  return Math.pow((5 + length) / 6, alpha);
}

/** The allowed token with the largest log-probability; ties go to the lowest id. */
function bestToken(logProbs: Float64Array): number {
  let best = -1;
  for (let v = 0; v < logProbs.length; v++) {
    if (v === PAD || v === BOS) continue;
    if (best < 0 || logProbs[v] > logProbs[best]) best = v;
  }
  if (best < 0) throw new Error('decoding: the target vocabulary has no token besides PAD and BOS');
  return best;
}

/** Runs one hypothesis forward, choosing each token with `choose`. */
function decodeOne<S>(dec: StepDecoder<S>, src: readonly number[], limit: LengthLimit, choose: (logProbs: Float64Array) => number): Decoded {
  let state = dec.start(src);
  let token = BOS;
  const tokens: number[] = [];
  const attention: Float64Array[] = [];
  let logProb = 0;
  const steps = maxSteps(src.length, limit);
  for (let t = 0; t < steps; t++) {
    const r = dec.step(state, token);
    if (r.attention) attention.push(Float64Array.from(r.attention));
    token = choose(r.logProbs);
    logProb += r.logProbs[token];
    if (token === EOS) return { tokens, attention, logProb, finished: true };
    tokens.push(token);
    state = r.state;
  }
  return { tokens, attention, logProb, finished: false };
}

/** Greedy decoding: the most likely token at each step (ties: lowest id). */
export function greedyDecode<S>(dec: StepDecoder<S>, src: readonly number[], limit: LengthLimit = {}): Decoded {
  return decodeOne(dec, src, limit, bestToken);
}

export interface SampleOptions extends LengthLimit {
  /** τ > 0 samples from softmax(log p / τ); τ = 0 is greedy. Default 1. */
  temperature?: number;
}

/**
 * Sampling with a temperature: p_τ(v) ∝ exp((log p(v) − max_u log p(u)) / τ), computed from the
 * shifted log-probabilities so no weight overflows and the most likely token always weighs 1
 * (a tiny τ gives greedy's choice, not an underflow to all zeros). One rng.uniform() per step.
 */
export function sampleDecode<S>(dec: StepDecoder<S>, src: readonly number[], rng: Rng, opts: SampleOptions = {}): Decoded {
  const tau = opts.temperature ?? 1;
  if (!(tau >= 0) || !Number.isFinite(tau)) throw new Error(`decoding: temperature ${tau} must be a finite number >= 0`);
  if (tau === 0) return greedyDecode(dec, src, opts);
  const weights: number[] = [];
  return decodeOne(dec, src, opts, (logProbs) => {
    const top = logProbs[bestToken(logProbs)];
    if (top === -Infinity) throw new Error('decoding: every token has probability 0');
    weights.length = 0;
    let sum = 0;
    for (let v = 0; v < logProbs.length; v++) {
      const w = v === PAD || v === BOS ? 0 : Math.exp((logProbs[v] - top) / tau);
      weights.push(w);
      sum += w;
    }
    let u = rng.uniform() * sum;
    let last = -1;
    for (let v = 0; v < weights.length; v++) {
      if (weights[v] === 0) continue;
      last = v;
      u -= weights[v];
      if (u < 0) return v;
    }
    return last;
  });
}

export interface BeamOptions extends LengthLimit {
  /** Beam width k >= 1. Default 5. */
  width?: number;
  /** Length penalty exponent α >= 0 (0: raw log-probability). Default 0.6. */
  alpha?: number;
}

interface Node<S> {
  token: number;
  parent: Node<S> | undefined;
  attention: Float64Array | undefined;
  logProb: number;
  state: S;
}

function unwind<S>(node: Node<S>): { tokens: number[]; attention: Float64Array[] } {
  const tokens: number[] = [];
  const attention: Float64Array[] = [];
  for (let n: Node<S> | undefined = node; n && n.parent; n = n.parent) {
    tokens.push(n.token);
    if (n.attention) attention.push(n.attention);
  }
  return { tokens: tokens.reverse(), attention: attention.reverse() };
}

/**
 * Beam search. Each step expands every live hypothesis by every token (PAD, BOS excluded) and
 * ranks the candidates by total log-probability (all have the same length, so this is the order
 * of the penalised score too); ties go to the earlier hypothesis, then the lower token id. Walking
 * that ranking, an EOS candidate among the first k finishes (score logProb / lp(|Y|), EOS counted
 * in |Y|) and the first k non-EOS candidates stay live. The search stops when no hypothesis is
 * live, at maxSteps, or when the best finished score is at least every live hypothesis's bound
 * logProb / lp(maxSteps): with log p ≤ 0 and lp growing in |Y| (α ≥ 0), no continuation can
 * score above that bound. The result is the best finished hypothesis (ties: the one finished
 * first), or, if none finished, the best live one, unfinished.
 */
export function beamSearch<S>(dec: StepDecoder<S>, src: readonly number[], opts: BeamOptions = {}): BeamDecoded {
  const width = opts.width ?? 5;
  const alpha = opts.alpha ?? 0.6;
  if (!Number.isInteger(width) || width < 1) throw new Error(`beamSearch: width ${width} must be a whole number >= 1`);
  if (!(alpha >= 0) || !Number.isFinite(alpha)) throw new Error(`beamSearch: alpha ${alpha} must be a finite number >= 0`);
  const steps = maxSteps(src.length, opts);
  let live: Node<S>[] = [{ token: BOS, parent: undefined, attention: undefined, logProb: 0, state: dec.start(src) }];
  const finished: (Decoded & { score: number })[] = [];
  let best = -Infinity;

  for (let t = 1; t <= steps && live.length; t++) {
    const cands: { from: number; token: number; logProb: number }[] = [];
    const results = live.map((h) => dec.step(h.state, h.token));
    results.forEach((r, b) => {
      for (let v = 0; v < r.logProbs.length; v++) {
        if (v === PAD || v === BOS) continue;
        const lp = live[b].logProb + r.logProbs[v];
        if (lp > -Infinity) cands.push({ from: b, token: v, logProb: lp });
      }
    });
    // Array.prototype.sort is stable, and cands is in (hypothesis, token) order: that is the tie-break.
    cands.sort((a, c) => c.logProb - a.logProb);
    const next: Node<S>[] = [];
    for (let rank = 0; rank < cands.length && next.length < width; rank++) {
      const c = cands[rank];
      const r = results[c.from];
      const attention = r.attention ? Float64Array.from(r.attention) : undefined;
      const node: Node<S> = { token: c.token, parent: live[c.from], attention, logProb: c.logProb, state: r.state };
      if (c.token === EOS) {
        if (rank >= width) continue;
        const { tokens, attention: rows } = unwind(node);
        const score = c.logProb / lengthPenalty(tokens.length, alpha); // tokens includes EOS here
        tokens.pop();
        finished.push({ tokens, attention: rows, logProb: c.logProb, finished: true, score });
        best = Math.max(best, score);
      } else next.push(node);
    }
    live = next;
    const bound = lengthPenalty(steps, alpha);
    if (finished.length && live.every((h) => h.logProb / bound <= best)) break;
  }

  const ranked = finished.map((h, i) => ({ h, i })).sort((a, b) => b.h.score - a.h.score || a.i - b.i).map(({ h }) => h);
  if (ranked.length) return { ...ranked[0], hypotheses: ranked };
  if (!live.length) throw new Error('beamSearch: every continuation has probability 0');
  let top = live[0];
  for (const h of live) if (h.logProb > top.logProb) top = h;
  const { tokens, attention } = unwind(top);
  return { tokens, attention, logProb: top.logProb, finished: false, score: top.logProb / lengthPenalty(tokens.length, alpha), hypotheses: [] };
}
