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

/** Draws an index from logits/temperature restricted to the top k. */
export function drawFrom(probs: Float64Array, temperature: number, topK: number, rng: Rng): number {
  const V = probs.length;
  // probs are softmax(logits); re-temper in log space: p^(1/T) renormalised.
  const w = new Float64Array(V);
  for (let i = 0; i < V; i++) w[i] = Math.pow(Math.max(probs[i], 1e-300), 1 / temperature);
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
  for (let i = 0; i < V; i++) {
    u -= w[i];
    if (u < 0) return i;
  }
  return V - 1;
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
