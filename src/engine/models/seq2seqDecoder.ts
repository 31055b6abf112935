/**
 * Step-by-step decoding on a trained Seq2Seq (the StepDecoder of ../seq2seq/decoding.ts): the
 * same ops and the same equations as the model's training forward, for one source at a time
 * (B = 1), with the decoder state as an immutable value so beam search can branch from it.
 *
 * State: h, c per layer (H each; c LSTM only), feed = h~_{t-1} (dot, general; H), and the
 * encoder's results for the source, shared by every state of one start(): enc (n,H), keys
 * (general (n,H), additive (n,A)).
 */
import { linearForward } from '../ops/linear';
import { cellInputForward, cellParamsOf, cellRowBias, newCellCache, type CellCache, type CellParams } from '../ops/cell';
import { cellForward } from '../ops/recurrent';
import { additiveAttentionForward, dotAttentionForward, generalAttentionForward } from '../ops/attention';
import { tanhInto, type Vec } from '../linalg';
import type { StepDecoder } from '../seq2seq/decoding';
import { Seq2Seq } from './seq2seq';

export interface EncodedSource {
  n: number;
  enc: Vec;
  keys: Vec;
  lengths: Int32Array;
}

export interface Seq2SeqDecoderState {
  h: Vec[];
  c: Vec[];
  feed: Float64Array;
  source: EncodedSource;
}

export class Seq2SeqStepDecoder implements StepDecoder<Seq2SeqDecoderState> {
  private readonly encoder: Seq2Seq;
  private readonly caches: CellCache[];
  private readonly bias: Float64Array;
  private readonly u: Float64Array;
  private readonly scratch: Float64Array;
  private readonly cat: Float64Array;
  private readonly logits: Float64Array;
  private readonly cellParams: CellParams[];

  /** Shares `model`'s parameters (reads them at every call) and none of its buffers. */
  constructor(readonly model: Seq2Seq) {
    this.encoder = new Seq2Seq(model.spec, model.params);
    const { hidden: H, layers: L, tgtVocab: V } = model.spec;
    this.caches = Array.from({ length: L }, () => newCellCache(model.cellSpec, 1, 1));
    this.bias = new Float64Array(model.G * H);
    this.u = new Float64Array(model.D);
    this.scratch = new Float64Array(model.G * H);
    this.cat = new Float64Array(2 * H);
    this.logits = new Float64Array(V);
    this.cellParams = Array.from({ length: L }, (_, l) => cellParamsOf(model.params, 'decoder.', l));
  }

  private off(name: string): number {
    return this.model.params.spec(name).offset;
  }

  start(src: readonly number[]): Seq2SeqDecoderState {
    const n = src.length;
    if (n < 1) throw new RangeError('an empty source has nothing to encode');
    const V = this.model.spec.srcVocab;
    for (const id of src) if (!(Number.isInteger(id) && id >= 0 && id < V)) throw new RangeError(`source id ${id} outside the vocabulary 0..${V - 1}`);
    const lengths = Int32Array.of(n);
    this.encoder.encodeOnly(Int32Array.from(src), lengths, 1, n);
    const H = this.model.spec.hidden;
    const att = this.model.spec.attention;
    return {
      h: this.encoder.finalH.map((x) => x.slice()),
      c: this.encoder.finalC.map((x) => x.slice()),
      feed: new Float64Array(att === 'dot' || att === 'general' ? H : 0),
      source: { n, enc: this.encoder.encOut.slice(0, n * H), keys: this.encoder.encoderKeys().slice(), lengths },
    };
  }

  step(state: Seq2SeqDecoderState, token: number): { logProbs: Float64Array; attention?: Float64Array; state: Seq2SeqDecoderState } {
    const m = this.model;
    const { hidden: H, embed: E, layers: L, tgtVocab: V, attentionSize: A, attention: att } = m.spec;
    if (!(Number.isInteger(token) && token >= 0 && token < V)) throw new RangeError(`target id ${token} outside the vocabulary 0..${V - 1}`);
    const W = m.params.data;
    const GH = m.G * H;
    const D = m.D;
    const { n, enc, keys, lengths } = state.source;
    const u = this.u;
    const e = this.off('tgt_embedding.weight') + token * E;
    u.set(W.subarray(e, e + E), 0);
    let attention: Float64Array | undefined;
    const ctx = new Float64Array(att === 'none' ? 0 : H);
    if (att === 'additive') {
      // q_t = the top h before the step.
      const qProj = new Float64Array(A);
      linearForward(1, A, H, state.h[L - 1], 0, H, W, this.off('attention.query.weight'), -1, qProj, 0);
      attention = new Float64Array(n);
      additiveAttentionForward(1, n, H, A, lengths, qProj, 0, keys, W, this.off('attention.v.weight'), enc, new Float64Array(n * A), 0, attention, 0, ctx, 0, H);
      u.set(ctx, E);
    } else if (att !== 'none') {
      u.set(state.feed, E);
    }
    const h: Vec[] = [];
    const c: Vec[] = [];
    for (let l = 0; l < L; l++) {
      const cache = this.caches[l];
      const cp = this.cellParams[l];
      cellRowBias(m.cellSpec, W, cp, this.bias);
      if (l === 0) cellInputForward(1, D, GH, u, 0, D, W, cp, this.bias, cache.gates, 0);
      else cellInputForward(1, H, GH, h[l - 1], 0, H, W, cp, this.bias, cache.gates, 0);
      cache.hs.set(state.h[l], 0);
      if (m.spec.cell === 'lstm') cache.cs.set(state.c[l], 0);
      cellForward(m.cellSpec, W, cp, cache, 0, 1, 1, this.scratch);
      h.push(cache.hs.slice(H, 2 * H));
      c.push(m.spec.cell === 'lstm' ? cache.cs.slice(H, 2 * H) : new Float64Array(0));
    }
    const top = h[L - 1];
    let o = top;
    let feed = state.feed;
    if (att === 'dot' || att === 'general') {
      attention = new Float64Array(n);
      if (att === 'dot') dotAttentionForward(1, n, H, lengths, top, 0, H, enc, attention, 0, ctx, 0, H);
      else generalAttentionForward(1, n, H, lengths, top, 0, H, keys, enc, attention, 0, ctx, 0, H);
      this.cat.set(ctx, 0);
      this.cat.set(top, H);
      feed = new Float64Array(H);
      linearForward(1, H, 2 * H, this.cat, 0, 2 * H, W, this.off('attention.combine.weight'), -1, feed, 0);
      tanhInto(feed, 0, feed, 0, H);
      o = feed;
    }
    const z = this.logits;
    linearForward(1, V, H, o, 0, H, W, this.off('head.weight'), this.off('head.bias'), z, 0);
    let max = -Infinity;
    for (let k = 0; k < V; k++) if (z[k] > max) max = z[k];
    let sum = 0;
    for (let k = 0; k < V; k++) sum += Math.exp(z[k] - max);
    const lse = max + Math.log(sum);
    const logProbs = new Float64Array(V);
    for (let k = 0; k < V; k++) logProbs[k] = z[k] - lse;
    return { logProbs, attention, state: { h, c, feed, source: state.source } };
  }
}
