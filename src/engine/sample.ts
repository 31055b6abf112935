/**
 * Sampling from a character model, one step at a time with T = 1 and B = 1: the network keeps
 * only the current step's activations (inference mode).
 */
import type { Network } from './network';
import type { Rng } from './random';

export interface SampleOptions {
  length: number;
  temperature: number;
  /** Keep only the k most likely characters (0: all). */
  topK: number;
  prime: string;
}

/**
 * Draws an index from softmax(logits / T) restricted to the top k, given probs = softmax(logits).
 * Computed in log space with the maximum subtracted: w_i = exp((log p_i - max_j log p_j) / T), so
 * the most likely symbol has weight 1 at any temperature and a tiny T is greedy instead of every
 * p_i^(1/T) underflowing to 0 (which left the last symbol as the draw). Dividing (not multiplying
 * by 1/T) keeps 0 / T = 0 when 1/T overflows.
 */
export function drawFrom(probs: Float64Array, temperature: number, topK: number, rng: Rng): number {
  const V = probs.length;
  const w = new Float64Array(V);
  let max = -Infinity;
  let best = 0;
  for (let i = 0; i < V; i++) {
    w[i] = Math.log(probs[i]);
    if (w[i] > max) (max = w[i]), (best = i);
  }
  if (!(max > -Infinity)) return best; // no finite probability at all: nothing to weigh
  for (let i = 0; i < V; i++) {
    const d = w[i] - max;
    w[i] = d === 0 ? 1 : Number.isNaN(d) ? 0 : Math.exp(d / temperature);
  }
  if (topK > 0 && topK < V) {
    const cutoff = [...w].sort((a, b) => b - a)[topK - 1];
    let kept = 0;
    for (let i = 0; i < V; i++) {
      if (w[i] < cutoff || kept >= topK) w[i] = 0;
      else kept++;
    }
  }
  let s = 0;
  for (let i = 0; i < V; i++) s += w[i];
  let u = rng.uniform() * s;
  let last = best;
  for (let i = 0; i < V; i++) {
    if (w[i] > 0) last = i;
    u -= w[i];
    if (u < 0) return i;
  }
  // Rounding left u >= 0 after the last weight: the draw is the last symbol that had weight.
  return last;
}

export function sampleText(net: Network, vocab: string[], opts: SampleOptions, rng: Rng): string {
  const index = new Map(vocab.map((c, i) => [c, i]));
  const state = net.newState(1);
  const tok = new Int32Array(1);
  const dummy = new Int32Array(1);
  const prime = Array.from(opts.prime).filter((c) => index.has(c));
  let out = '';
  let probs: Float64Array = new Float64Array(vocab.length).fill(1 / vocab.length);
  const feed = (id: number) => {
    tok[0] = id;
    net.forward(tok, 1, 1, state);
    net.head(dummy, { backward: false });
    probs = Float64Array.from(net.headOutputs());
  };
  if (prime.length === 0) prime.push(vocab.includes('\n') ? '\n' : vocab[0]);
  for (const c of prime) feed(index.get(c)!);
  for (let i = 0; i < opts.length; i++) {
    const id = drawFrom(probs, opts.temperature, opts.topK, rng);
    out += vocab[id];
    feed(id);
  }
  return out;
}
