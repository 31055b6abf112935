/**
 * Encoder-decoder RNN with attention, exactly as ../shared/oracle-s2s/README.md specifies (names,
 * shapes, equations, masking, loss normalisation): a composition of the ops in ../ops over one
 * ParamStore with PyTorch state_dict names.
 *
 *   encoder: e_s = top h after src_embedding[src_s] through L cells; runs only over s < n_b (the
 *            steps past a row's length are computed and never read: their outputs are not keys,
 *            and the final state is taken after step n_b - 1)
 *   decoder: layer l starts from the encoder's final state of layer l; at step t, x_t =
 *            tgt_embedding[y_{t-1}] (BOS at t = 0) and
 *     none      u_t = x_t;                 o_t = h_t
 *     dot/gen.  u_t = [x_t ; h~_{t-1}];     a_t from h_t (after the step); c_t = sum a e;
 *               h~_t = tanh(W_c [c_t ; h_t]); o_t = h~_t;  h~_{-1} = 0
 *     additive  a_t from q_t = top h before the step; c_t = sum a e; u_t = [x_t ; c_t]; o_t = h_t
 *   logits_t = W_head o_t + b_head
 *   loss = sum over valid (b, t < m_b) of -log softmax(logits)[y] / sum_b m_b
 *
 * Buffers (time-major unless named otherwise; S = max source length, T = max target length):
 *   encoder caches (S,B,.) per layer; enc (B,S,H) batch-major, 0 at padding
 *   decoder caches (T,B,.) per layer; u (T,B,D) decoder inputs, D = E or E + H
 *   att (T,B,S), ctx (T,B,H), cat (T,B,2H) = [c_t ; h_t], hTilde (T,B,H), out (T,B,H) = o_t,
 *   logits (T,B,V), probs (T,B,V)
 * Steps t >= m_b of a row are computed from whatever it is fed and carry no loss, so every
 * gradient they send back is exactly 0.
 */
import type { CellKind, GruVariant } from '../../protocol/config';
import { ParamStore, type Precision } from '../params';
import { allocF32, releaseF32 } from '../wasm/kernels';
import { Workspace } from './workspace';
import type { Rng } from '../random';
import {
  cellInputBackward, cellInputForward, cellParamBackward, cellParamsOf, cellRowBias, gateCount, newCellCache, newCellGradCarry,
  recurrentProduct, type CellCache, type CellGradCarry, type CellParams, type CellSpec,
} from '../ops/cell';
import { cellSpecOf } from '../modelSpec';
import { cellBackward, cellForward } from '../ops/recurrent';
import { embeddingBackward, embeddingForward } from '../ops/embedding';
import { linearForward, linearInputBackward, linearParamBackward } from '../ops/linear';
import { softmaxCrossEntropyBackward, softmaxCrossEntropyForward } from '../ops/loss';
import {
  additiveAttentionBackward, additiveAttentionForward, additiveKeysBackward, additiveKeysForward,
  dotAttentionBackward, dotAttentionForward, generalAttentionBackward, generalAttentionForward, generalKeysBackward, generalKeysForward,
} from '../ops/attention';
import { tanhInto, type Vec } from '../linalg';
import type { Seq2SeqBatch } from '../seq2seq/batch';
import { BOS, EOS } from '../seq2seq/vocab';

export type { Seq2SeqBatch };

export type AttentionKind = 'none' | 'dot' | 'general' | 'additive';
export const ATTENTION_KINDS: readonly AttentionKind[] = ['none', 'dot', 'general', 'additive'];

export interface Seq2SeqSpec {
  cell: CellKind;
  gruVariant: GruVariant;
  rnnActivation: 'tanh' | 'relu';
  layers: number;
  hidden: number;
  embed: number;
  attention: AttentionKind;
  /** A, additive only. */
  attentionSize: number;
  srcVocab: number;
  tgtVocab: number;
}

export interface ForwardOptions {
  /** Probability of feeding the true previous token (teacher forcing); below 1, the model's own greedy token is fed otherwise. */
  teacherForcing?: number;
  rng?: Rng;
  /** Greedy decoding: from step 1 on every row is fed its own most likely previous token (PAD and BOS excluded), whatever tgtIn holds. */
  greedy?: boolean;
}

/** Greedy outputs of a batch: tokens before the first EOS, whether EOS came, and the attention rows (T,B,S) of the steps. */
export interface GreedyBatch {
  tokens: number[][];
  finished: boolean[];
  steps: number;
}

/** ||dL/de_s|| per source position s (over the batch), through the attention context and through the encoder's final state. */
export interface EncoderFlow {
  attention: number[];
  finalState: number[];
  total: number[];
}

/** Declares the seq2seq parameters in PyTorch's named_parameters() order. */
export function declareSeq2SeqParams(p: ParamStore, s: Seq2SeqSpec): void {
  const G = gateCount(s.cell);
  const H = s.hidden;
  const E = s.embed;
  p.declare('src_embedding.weight', [s.srcVocab, E]);
  p.declare('tgt_embedding.weight', [s.tgtVocab, E]);
  for (const side of ['encoder', 'decoder']) {
    for (let l = 0; l < s.layers; l++) {
      const I = l > 0 ? H : side === 'decoder' && s.attention !== 'none' ? E + H : E;
      p.declare(`${side}.weight_ih_l${l}`, [G * H, I]);
      p.declare(`${side}.weight_hh_l${l}`, [G * H, H]);
      p.declare(`${side}.bias_ih_l${l}`, [G * H]);
      p.declare(`${side}.bias_hh_l${l}`, [G * H]);
    }
  }
  if (s.attention === 'general') p.declare('attention.weight', [H, H]);
  if (s.attention === 'dot' || s.attention === 'general') p.declare('attention.combine.weight', [H, 2 * H]);
  if (s.attention === 'additive') {
    p.declare('attention.query.weight', [s.attentionSize, H]);
    p.declare('attention.key.weight', [s.attentionSize, H]);
    p.declare('attention.v.weight', [1, s.attentionSize]);
  }
  p.declare('head.weight', [s.tgtVocab, H]);
  p.declare('head.bias', [s.tgtVocab]);
}

interface Side {
  caches: CellCache[];
  dG: Vec[];
  dAux: Vec[];
  dOut: Vec[];
  params: CellParams[];
}

export class Seq2Seq {
  readonly params: ParamStore;
  readonly cellSpec: CellSpec;
  readonly G: number;
  /** Decoder input size D. */
  readonly D: number;
  private B = 0;
  private S = 0;
  private T = 0;
  private batch: Seq2SeqBatch | null = null;
  private enc!: Side;
  private dec!: Side;
  private srcTokens = new Int32Array(0); // (S,B)
  private inTokens = new Int32Array(0); // (T,B) what the decoder was fed
  private tgtOut = new Int32Array(0); // (T,B)
  private lossMask = new Uint8Array(0); // (T,B)
  private srcEmb: Vec = new Float64Array(0); // (S,B,E)
  /** (B,S,H) encoder outputs, 0 at padding. */
  encOut: Vec = new Float64Array(0);
  private keys: Vec = new Float64Array(0); // general (B,S,H), additive (B,S,A)
  private u: Vec = new Float64Array(0); // (T,B,D)
  /** (T,B,S) attention weights. */
  att: Vec = new Float64Array(0);
  /** (T,B,H) context vectors. */
  ctx: Vec = new Float64Array(0);
  private cat: Vec = new Float64Array(0); // (T,B,2H)
  /** (T,B,H) h~_t (dot, general). */
  hTilde: Vec = new Float64Array(0);
  private qProj: Vec = new Float64Array(0); // (T,B,A) additive
  private pre: Vec = new Float64Array(0); // (T,B,S,A) additive
  /** (T,B,V) logits. */
  logits: Vec = new Float64Array(0);
  private probs: Vec = new Float64Array(0);
  private validCount = 0;
  private readonly bias: Vec;
  private scratchBuf: Vec = new Float64Array(0);
  /** Encoder final state per layer (B,H) (c: LSTM only), the decoder's initial state. */
  finalH: Vec[] = [];
  finalC: Vec[] = [];
  /** dL/d(encoder outputs) (B,S,H) through attention, after backward(). */
  dEnc: Vec = new Float64Array(0);
  /** dL/d(encoder final state) per layer (B,H), after backward(). */
  dFinalH: Vec[] = [];
  dFinalC: Vec[] = [];

  /** The buffers of the last shapes (ensureBuffers), the temporaries of backward() and of encoderBackward(). */
  private readonly buffers: Workspace;
  private readonly backwardTemps: Workspace;
  private readonly encoderTemps: Workspace;
  readonly precision: Precision;

  /**
   * precision "float64": Float64Arrays and the JavaScript kernels (the reference, the oracle's
   * 1e-9 path). "float32": parameters and every working array in the WebAssembly kernels' arena,
   * so the products, the gate passes, tanh and the softmax's exp run in the f32x4 kernels (as
   * Network's float32 path); the caller picks it only where SIMD is available. With `params`, the
   * model shares them and takes their precision.
   */
  constructor(readonly spec: Seq2SeqSpec, params?: ParamStore, precision: Precision = 'float64') {
    if (!(spec.layers >= 1)) throw new Error('layers must be at least 1');
    if (spec.attention === 'additive' && !(spec.attentionSize >= 1)) throw new Error('additive attention needs an attention size of at least 1');
    this.cellSpec = cellSpecOf(spec);
    this.G = gateCount(spec.cell);
    this.D = spec.attention === 'none' ? spec.embed : spec.embed + spec.hidden;
    if (params) this.params = params;
    else {
      this.params = new ParamStore(precision);
      declareSeq2SeqParams(this.params, spec);
      this.params.allocate();
    }
    this.precision = this.params.precision;
    this.buffers = new Workspace(this.precision);
    this.backwardTemps = new Workspace(this.precision);
    this.encoderTemps = new Workspace(this.precision);
    this.bias = this.precision === 'float32' ? allocF32(this.G * spec.hidden) : new Float64Array(this.G * spec.hidden);
  }

  private off(name: string): number {
    return this.params.spec(name).offset;
  }

  private scratch(n: number): Vec {
    if (this.scratchBuf.length < n) {
      if (this.scratchBuf instanceof Float32Array) releaseF32(this.scratchBuf);
      this.scratchBuf = this.precision === 'float32' ? allocF32(n) : new Float64Array(n);
    }
    return this.scratchBuf;
  }

  /** Gives the working arrays back to the arena (the parameters stay): call when done with a float32 model. */
  releaseBuffers(): void {
    for (const w of [this.buffers, this.backwardTemps, this.encoderTemps]) w.release();
    if (this.scratchBuf instanceof Float32Array) releaseF32(this.scratchBuf);
    this.scratchBuf = new Float64Array(0);
    this.B = this.S = this.T = 0;
  }

  private newSide(prefix: string, steps: number, B: number): Side {
    const L = this.spec.layers;
    const GH = this.G * this.spec.hidden;
    const H = this.spec.hidden;
    const take = this.buffers.take;
    return {
      caches: Array.from({ length: L }, () => newCellCache(this.cellSpec, steps, B, take)),
      dG: Array.from({ length: L }, () => take(steps * B * GH)),
      dAux: Array.from({ length: L }, () => take(this.spec.cell === 'gru' ? steps * B * H : 0)),
      dOut: Array.from({ length: L }, () => take(steps * B * H)),
      params: Array.from({ length: L }, (_, l) => cellParamsOf(this.params, `${prefix}.`, l)),
    };
  }

  private ensureBuffers(B: number, S: number, T: number): void {
    if (B === this.B && S === this.S && T === this.T) return;
    const { hidden: H, embed: E, tgtVocab: V, attentionSize: A, layers: L } = this.spec;
    this.buffers.reset();
    const take = this.buffers.take;
    this.enc = this.newSide('encoder', S, B);
    this.dec = this.newSide('decoder', T, B);
    this.srcTokens = new Int32Array(S * B);
    this.inTokens = new Int32Array(T * B);
    this.tgtOut = new Int32Array(T * B);
    this.lossMask = new Uint8Array(T * B);
    this.srcEmb = take(S * B * E);
    this.encOut = take(B * S * H);
    this.dEnc = take(B * S * H);
    const att = this.spec.attention;
    this.keys = take(att === 'general' ? B * S * H : att === 'additive' ? B * S * A : 0);
    this.u = take(T * B * this.D);
    this.att = take(att === 'none' ? 0 : T * B * S);
    this.ctx = take(att === 'none' ? 0 : T * B * H);
    this.cat = take(att === 'dot' || att === 'general' ? T * B * 2 * H : 0);
    this.hTilde = take(att === 'dot' || att === 'general' ? T * B * H : 0);
    this.qProj = take(att === 'additive' ? T * B * A : 0);
    this.pre = take(att === 'additive' ? T * B * S * A : 0);
    this.logits = take(T * B * V);
    this.probs = take(T * B * V);
    this.finalH = Array.from({ length: L }, () => take(B * H));
    this.finalC = Array.from({ length: L }, () => take(this.spec.cell === 'lstm' ? B * H : 0));
    this.B = B;
    this.S = S;
    this.T = T;
  }

  /** The decoder's output vectors o_t (T,B,H): h~_t for dot and general, the top h_t otherwise. */
  outputs(): Vec {
    const att = this.spec.attention;
    if (att === 'dot' || att === 'general') return this.hTilde;
    return this.decoderTop();
  }

  /** The top decoder layer's h_1..h_T (T,B,H). */
  decoderTop(): Vec {
    const H = this.spec.hidden;
    return this.dec.caches[this.spec.layers - 1].hs.subarray(this.B * H, (this.T + 1) * this.B * H);
  }

  /** Encoder layer l's cache (gates, states) of the last forward, (S,B,.). */
  encoderCache(l: number): CellCache {
    return this.enc.caches[l];
  }

  decoderCache(l: number): CellCache {
    return this.dec.caches[l];
  }

  /**
   * Which rows of the last forward are real steps, 1 or 0: the encoder's (S,B) rows s < n_b,
   * the decoder's (T,B) rows t < m_b (the rows of the caches' gates and states).
   */
  realSteps(side: 'encoder' | 'decoder'): Uint8Array {
    if (side === 'decoder') return this.lossMask.subarray(0, this.T * this.B);
    const { B, S } = this;
    const lengths = this.batch?.srcLengths ?? [];
    const m = new Uint8Array(S * B);
    for (let b = 0; b < B; b++) for (let s = 0; s < (lengths[b] ?? 0); s++) m[s * B + b] = 1;
    return m;
  }

  get lastShape(): { B: number; S: number; T: number } {
    return { B: this.B, S: this.S, T: this.T };
  }

  /** The encoder alone (decoding): sizes the buffers for B rows of S and runs encode(). */
  encodeOnly(src: Int32Array, srcLengths: ArrayLike<number>, B: number, S: number): void {
    this.ensureBuffers(B, S, Math.max(this.T, 1));
    this.encode(src, srcLengths, B, S);
  }

  /** The attention keys of the last encode(): enc W_a^T (general, (B,S,H)), enc W_k^T (additive, (B,S,A)), else empty. */
  encoderKeys(): Vec {
    return this.keys;
  }

  /** Runs the encoder over src (B,S) with lengths; fills encOut, keys, finalH / finalC. */
  private encode(src: Int32Array, srcLengths: ArrayLike<number>, B: number, S: number): void {
    const { hidden: H, embed: E, layers: L } = this.spec;
    const GH = this.G * H;
    const W = this.params.data;
    for (let b = 0; b < B; b++) {
      const n = srcLengths[b];
      if (!(n >= 1 && n <= S)) throw new RangeError(`source length ${n} of row ${b} outside 1..${S}`);
      for (let s = 0; s < S; s++) this.srcTokens[s * B + b] = src[b * S + s];
    }
    embeddingForward(W, this.off('src_embedding.weight'), E, this.srcTokens, 0, S * B, this.srcEmb);
    for (let l = 0; l < L; l++) {
      const c = this.enc.caches[l];
      const cp = this.enc.params[l];
      cellRowBias(this.cellSpec, W, cp, this.bias);
      if (l === 0) cellInputForward(S * B, E, GH, this.srcEmb, 0, E, W, cp, this.bias, c.gates, 0);
      else cellInputForward(S * B, H, GH, this.enc.caches[l - 1].hs, B * H, H, W, cp, this.bias, c.gates, 0);
      c.hs.fill(0, 0, B * H);
      if (this.spec.cell === 'lstm') c.cs.fill(0, 0, B * H);
      cellForward(this.cellSpec, W, cp, c, 0, S, B, this.scratch(B * GH));
      // The final state of row b is its state after step n_b - 1: hs[n_b].
      for (let b = 0; b < B; b++) {
        const o = srcLengths[b] * B * H + b * H;
        this.finalH[l].set(c.hs.subarray(o, o + H), b * H);
        if (this.spec.cell === 'lstm') this.finalC[l].set(c.cs.subarray(o, o + H), b * H);
      }
    }
    const top = this.enc.caches[L - 1].hs;
    this.encOut.fill(0);
    for (let b = 0; b < B; b++) {
      for (let s = 0; s < srcLengths[b]; s++) this.encOut.set(top.subarray((s + 1) * B * H + b * H, (s + 1) * B * H + b * H + H), (b * S + s) * H);
    }
    if (this.spec.attention === 'general') generalKeysForward(B, S, H, this.encOut, W, this.off('attention.weight'), this.keys);
    if (this.spec.attention === 'additive') additiveKeysForward(B, S, H, this.spec.attentionSize, this.encOut, W, this.off('attention.key.weight'), this.keys);
  }

  /**
   * Forward over a batch: encoder, decoder (teacher forcing, or scheduled sampling below ratio 1),
   * head and the masked mean cross-entropy, which it returns.
   */
  forward(batch: Seq2SeqBatch, opts: ForwardOptions = {}): number {
    const { B, S, T } = batch;
    this.ensureBuffers(B, S, T);
    this.batch = batch;
    const { hidden: H, embed: E, layers: L, tgtVocab: V, attentionSize: A } = this.spec;
    const GH = this.G * H;
    const D = this.D;
    const W = this.params.data;
    const att = this.spec.attention;
    const ratio = opts.teacherForcing ?? 1;
    this.encode(batch.src, batch.srcLengths, B, S);
    this.validCount = 0;
    for (let b = 0; b < B; b++) {
      const m = batch.tgtLengths[b];
      if (!(m >= 1 && m <= T)) throw new RangeError(`target length ${m} of row ${b} outside 1..${T}`);
      this.validCount += m;
      for (let t = 0; t < T; t++) {
        this.tgtOut[t * B + b] = batch.tgtOut[b * T + t];
        this.lossMask[t * B + b] = t < m ? 1 : 0;
      }
    }
    for (let l = 0; l < L; l++) {
      this.dec.caches[l].hs.set(this.finalH[l], 0);
      if (this.spec.cell === 'lstm') this.dec.caches[l].cs.set(this.finalC[l], 0);
    }
    const embOff = this.off('tgt_embedding.weight');
    const headW = this.off('head.weight');
    const headB = this.off('head.bias');
    const top = this.dec.caches[L - 1].hs;
    for (let t = 0; t < T; t++) {
      // The token fed at step t: the true previous token, or (scheduled sampling) the model's greedy one.
      for (let b = 0; b < B; b++) {
        let tok = batch.tgtIn[b * T + t];
        if (t > 0 && opts.greedy) tok = argmaxFrom(this.logits, ((t - 1) * B + b) * V, V, EOS);
        else if (t > 0 && ratio < 1 && opts.rng && opts.rng.uniform() >= ratio) tok = argmaxFrom(this.logits, ((t - 1) * B + b) * V, V, 0);
        this.inTokens[t * B + b] = tok;
      }
      const uo = t * B * D;
      for (let b = 0; b < B; b++) {
        const o = embOff + this.inTokens[t * B + b] * E;
        this.u.set(W.subarray(o, o + E), uo + b * D);
      }
      if (att === 'additive') {
        // q_t = the top h before the step (hs[t]); c_t goes into u_t's last H columns.
        linearForward(B, A, H, top, t * B * H, H, W, this.off('attention.query.weight'), -1, this.qProj, t * B * A);
        additiveAttentionForward(B, S, H, A, batch.srcLengths, this.qProj, t * B * A, this.keys, W, this.off('attention.v.weight'), this.encOut, this.pre, t * B * S * A, this.att, t * B * S, this.ctx, t * B * H, H);
        for (let b = 0; b < B; b++) this.u.set(this.ctx.subarray((t * B + b) * H, (t * B + b + 1) * H), uo + b * D + E);
      } else if (att !== 'none') {
        // Input feeding: u_t = [x_t ; h~_{t-1}], h~_{-1} = 0.
        for (let b = 0; b < B; b++) {
          if (t === 0) this.u.fill(0, uo + b * D + E, uo + b * D + D);
          else this.u.set(this.hTilde.subarray(((t - 1) * B + b) * H, ((t - 1) * B + b + 1) * H), uo + b * D + E);
        }
      }
      for (let l = 0; l < L; l++) {
        const c = this.dec.caches[l];
        const cp = this.dec.params[l];
        cellRowBias(this.cellSpec, W, cp, this.bias);
        if (l === 0) cellInputForward(B, D, GH, this.u, uo, D, W, cp, this.bias, c.gates, t * B * GH);
        else cellInputForward(B, H, GH, this.dec.caches[l - 1].hs, (t + 1) * B * H, H, W, cp, this.bias, c.gates, t * B * GH);
        cellForward(this.cellSpec, W, cp, c, t, t + 1, B, this.scratch(B * GH));
      }
      let oBuf = top;
      let oOff = (t + 1) * B * H;
      if (att === 'dot' || att === 'general') {
        if (att === 'dot') dotAttentionForward(B, S, H, batch.srcLengths, top, (t + 1) * B * H, H, this.encOut, this.att, t * B * S, this.ctx, t * B * H, H);
        else generalAttentionForward(B, S, H, batch.srcLengths, top, (t + 1) * B * H, H, this.keys, this.encOut, this.att, t * B * S, this.ctx, t * B * H, H);
        // h~_t = tanh(W_c [c_t ; h_t])
        for (let b = 0; b < B; b++) {
          const r = (t * B + b) * 2 * H;
          this.cat.set(this.ctx.subarray((t * B + b) * H, (t * B + b + 1) * H), r);
          this.cat.set(top.subarray((t + 1) * B * H + b * H, (t + 1) * B * H + b * H + H), r + H);
        }
        linearForward(B, H, 2 * H, this.cat, t * B * 2 * H, 2 * H, W, this.off('attention.combine.weight'), -1, this.hTilde, t * B * H);
        tanhInto(this.hTilde, t * B * H, this.hTilde, t * B * H, B * H);
        oBuf = this.hTilde;
        oOff = t * B * H;
      }
      linearForward(B, V, H, oBuf, oOff, H, W, headW, headB, this.logits, t * B * V);
    }
    this.probs.set(this.logits);
    return softmaxCrossEntropyForward(this.probs, 0, T * B, V, this.tgtOut, this.lossMask) / this.validCount;
  }

  /** Backpropagation through the decoder, the attention and the encoder; adds into params.grad. */
  backward(): void {
    const batch = this.batch;
    if (!batch) throw new Error('backward() before forward()');
    const { B, S, T } = this;
    const { hidden: H, embed: E, layers: L, tgtVocab: V, attentionSize: A } = this.spec;
    const GH = this.G * H;
    const D = this.D;
    const p = this.params;
    const W = p.data;
    const gr = p.grad;
    const att = this.spec.attention;
    const N = T * B;
    const lengths = batch.srcLengths;
    // dlogits, then the head: dW_head, db_head over all rows at once, and dO = dlogits W_head.
    this.backwardTemps.reset();
    const take = this.backwardTemps.take;
    const dz = this.scratch(N * V);
    softmaxCrossEntropyBackward(this.probs, 0, N, V, this.tgtOut, this.validCount, dz, this.lossMask);
    const oOff = att === 'dot' || att === 'general' ? 0 : B * H;
    const oBase = att === 'dot' || att === 'general' ? this.hTilde : this.dec.caches[L - 1].hs;
    linearParamBackward(N, V, H, dz, 0, oBase, oOff, H, gr, this.off('head.weight'), this.off('head.bias'));
    const dO = take(N * H);
    linearInputBackward(N, V, H, dz, 0, W, this.off('head.weight'), dO, 0, H, 0);

    this.dEnc.fill(0);
    const dKeys = take(this.keys.length);
    const dTop = this.dec.dOut[L - 1];
    const carries: CellGradCarry[] = Array.from({ length: L }, () => newCellGradCarry(this.cellSpec, B, take));
    const recurrent = this.dec.params.map((cp) => recurrentProduct(W, cp.whh, B, GH, H, take(B === 1 ? 0 : GH * H)));
    const du = take(B * D);
    const dFeed = take(B * H); // dL/dh~_t from step t+1's input
    const dPre = take(att === 'dot' || att === 'general' ? N * H : 0); // dL/d(W_c [c;h]) (T,B,H)
    const dCat = take(B * 2 * H);
    const dQ = take(att === 'additive' ? N * A : 0); // dL/d(W_q q_t) (T,B,A)
    const da = take(B * S);
    const combine = att === 'dot' || att === 'general' ? this.off('attention.combine.weight') : -1;
    for (let t = T - 1; t >= 0; t--) {
      const to = t * B * H;
      if (att === 'dot' || att === 'general') {
        // dh~_t = dO_t + dFeed; through tanh and W_c into [dc_t ; dh_t].
        for (let i = 0; i < B * H; i++) {
          const y = this.hTilde[to + i];
          dPre[to + i] = (dO[to + i] + dFeed[i]) * (1 - y * y);
        }
        linearInputBackward(B, H, 2 * H, dPre, to, W, combine, dCat, 0, 2 * H, 0);
        for (let b = 0; b < B; b++) for (let j = 0; j < H; j++) dTop[to + b * H + j] = dCat[b * 2 * H + H + j];
        const q = this.dec.caches[L - 1].hs;
        if (att === 'dot') dotAttentionBackward(B, S, H, lengths, dCat, 0, 2 * H, q, (t + 1) * B * H, H, this.encOut, this.att, t * B * S, dTop, to, H, this.dEnc, da);
        else generalAttentionBackward(B, S, H, lengths, dCat, 0, 2 * H, q, (t + 1) * B * H, H, this.keys, this.encOut, this.att, t * B * S, dTop, to, H, dKeys, this.dEnc, da);
      } else {
        dTop.set(dO.subarray(to, to + B * H), to);
      }
      for (let l = L - 1; l >= 0; l--) {
        const c = this.dec.caches[l];
        cellBackward(this.cellSpec, c, this.dec.dOut[l], this.dec.dG[l], this.dec.dAux[l], carries[l], t, t + 1, B, recurrent[l]);
        if (l > 0) cellInputBackward(B, t * B, H, GH, this.dec.dG[l], W, this.dec.params[l], this.dec.dOut[l - 1], t * B * H, 0);
        else cellInputBackward(B, t * B, D, GH, this.dec.dG[0], W, this.dec.params[0], du, 0, 0);
      }
      embeddingBackward(gr, this.off('tgt_embedding.weight'), E, this.inTokens, t * B, B, du, 0, D);
      if (att === 'dot' || att === 'general') {
        for (let b = 0; b < B; b++) for (let j = 0; j < H; j++) dFeed[b * H + j] = du[b * D + E + j];
      } else if (att === 'additive') {
        // dc_t from u_t's last H columns, back through the attention into W_q q_t, then into q_t =
        // the top h before the step: the top layer's carried dL/dh_{t-1}.
        additiveAttentionBackward(B, S, H, A, lengths, du, E, D, W, this.off('attention.v.weight'), this.encOut, this.pre, t * B * S * A, this.att, t * B * S, gr, dQ, t * B * A, dKeys, this.dEnc, da);
        linearInputBackward(B, A, H, dQ, t * B * A, W, this.off('attention.query.weight'), carries[L - 1].dh, 0, H, 1);
      }
    }
    // Parameter gradients of the decoder cells, one product per tensor over all steps.
    for (let l = 0; l < L; l++) {
      const c = this.dec.caches[l];
      if (l === 0) cellParamBackward(this.cellSpec, N, 0, D, this.u, 0, D, c, this.dec.dG[0], this.dec.dAux[0], gr, this.dec.params[0], this.bias);
      else cellParamBackward(this.cellSpec, N, 0, H, this.dec.caches[l - 1].hs, B * H, H, c, this.dec.dG[l], this.dec.dAux[l], gr, this.dec.params[l], this.bias);
    }
    if (att === 'dot' || att === 'general') linearParamBackward(N, H, 2 * H, dPre, 0, this.cat, 0, 2 * H, gr, combine, -1);
    if (att === 'general') generalKeysBackward(B, S, H, dKeys, this.encOut, W, this.off('attention.weight'), gr, this.dEnc);
    if (att === 'additive') {
      linearParamBackward(N, A, H, dQ, 0, this.dec.caches[L - 1].hs, 0, H, gr, this.off('attention.query.weight'), -1);
      additiveKeysBackward(B, S, H, A, dKeys, this.encOut, W, this.off('attention.key.weight'), gr, this.dEnc);
    }
    this.dFinalH = carries.map((c) => c.dh);
    this.dFinalC = carries.map((c) => c.dc);
    this.encoderBackward(true, true, true);
  }

  /**
   * The encoder's backward pass from dEnc (through attention) and/or dFinalH / dFinalC (through
   * the final state). With paramGrads, adds the encoder's and the source embedding's gradients.
   * flowTop, when given, gets ||dL/de_s|| (S) of the top layer.
   */
  private encoderBackward(viaAttention: boolean, viaFinal: boolean, paramGrads: boolean, flowTop?: Float64Array): void {
    const batch = this.batch!;
    const { B, S } = this;
    const { hidden: H, embed: E, layers: L } = this.spec;
    const GH = this.G * H;
    const W = this.params.data;
    const gr = this.params.grad;
    const lengths = batch.srcLengths;
    const lstm = this.spec.cell === 'lstm';
    this.encoderTemps.reset();
    const take = this.encoderTemps.take;
    // dOut of the top layer = dEnc, time-major.
    const dTop = this.enc.dOut[L - 1];
    dTop.fill(0);
    if (viaAttention) {
      for (let b = 0; b < B; b++) {
        for (let s = 0; s < lengths[b]; s++) dTop.set(this.dEnc.subarray((b * S + s) * H, (b * S + s + 1) * H), s * B * H + b * H);
      }
    }
    // The steps where some row's final state was taken, latest first: the final-state gradient of
    // row b enters at step n_b - 1, so the backward pass runs in segments between them.
    const ends = [...new Set(Array.from(lengths, (n) => n - 1))].sort((x, y) => y - x);
    const layers = flowTop ? [L - 1] : Array.from({ length: L }, (_, i) => L - 1 - i);
    for (const l of layers) {
      const c = this.enc.caches[l];
      const carry = newCellGradCarry(this.cellSpec, B, take);
      const recurrent = recurrentProduct(W, this.enc.params[l].whh, B, GH, H, take(B === 1 ? 0 : GH * H));
      let cur = S;
      for (const end of ends) {
        if (end + 1 < cur) cellBackward(this.cellSpec, c, this.enc.dOut[l], this.enc.dG[l], this.enc.dAux[l], carry, end + 1, cur, B, recurrent, flowTop);
        if (viaFinal) {
          for (let b = 0; b < B; b++) {
            if (lengths[b] - 1 !== end) continue;
            for (let j = 0; j < H; j++) carry.dh[b * H + j] += this.dFinalH[l][b * H + j];
            if (lstm) for (let j = 0; j < H; j++) carry.dc[b * H + j] += this.dFinalC[l][b * H + j];
          }
        }
        cur = end + 1;
      }
      cellBackward(this.cellSpec, c, this.enc.dOut[l], this.enc.dG[l], this.enc.dAux[l], carry, 0, cur, B, recurrent, flowTop);
      if (!paramGrads) continue;
      const N = S * B;
      if (l === 0) {
        cellParamBackward(this.cellSpec, N, 0, E, this.srcEmb, 0, E, c, this.enc.dG[0], this.enc.dAux[0], gr, this.enc.params[0], this.bias);
        const dX = this.scratch(N * E);
        cellInputBackward(N, 0, E, GH, this.enc.dG[0], W, this.enc.params[0], dX, 0, 0);
        // Padded steps carry exactly zero gradient; only real positions reach the table.
        for (let s = 0; s < S; s++) {
          for (let b = 0; b < B; b++) {
            if (s < lengths[b]) embeddingBackward(gr, this.off('src_embedding.weight'), E, this.srcTokens, s * B + b, 1, dX, (s * B + b) * E);
          }
        }
      } else {
        cellParamBackward(this.cellSpec, N, 0, H, this.enc.caches[l - 1].hs, B * H, H, c, this.enc.dG[l], this.enc.dAux[l], gr, this.enc.params[l], this.bias);
        cellInputBackward(N, 0, H, GH, this.enc.dG[l], W, this.enc.params[l], this.enc.dOut[l - 1], 0, 0);
      }
    }
  }

  /**
   * ||dL/de_s|| per source position (norm over the batch) after backward(), split by linearity
   * into the part that arrives through the attention context (directly and through later
   * positions' attention) and the part that arrives through the encoder's final state.
   * Reruns the top encoder layer's backward twice without parameter gradients.
   */
  encoderFlow(): EncoderFlow {
    const S = this.S;
    const a = new Float64Array(S);
    const f = new Float64Array(S);
    const t = new Float64Array(S);
    if (this.spec.attention !== 'none') this.encoderBackward(true, false, false, a);
    this.encoderBackward(false, true, false, f);
    this.encoderBackward(true, true, false, t);
    return { attention: Array.from(a), finalState: Array.from(f), total: Array.from(t) };
  }

  /**
   * Greedy decoding of B sources at once, for at most `maxSteps` steps: the batched forward with
   * every row fed its own previous argmax (PAD and BOS never emitted). A row's output is its tokens
   * before its first EOS; the same outputs as greedyDecode() over the StepDecoder, one row at a time.
   * The attention of step t, row b is att[(t * B + b) * S ...] afterwards.
   */
  greedyDecodeBatch(src: Int32Array, srcLengths: Int32Array, B: number, S: number, maxSteps: number): GreedyBatch {
    const T = maxSteps;
    const tgtIn = new Int32Array(B * T);
    for (let b = 0; b < B; b++) tgtIn[b * T] = BOS;
    const batch: Seq2SeqBatch = { B, S, T, src, srcLengths, tgtIn, tgtOut: new Int32Array(B * T).fill(EOS), tgtLengths: new Int32Array(B).fill(T) };
    this.forward(batch, { greedy: true });
    const V = this.spec.tgtVocab;
    const tokens: number[][] = [];
    const finished: boolean[] = [];
    for (let b = 0; b < B; b++) {
      const out: number[] = [];
      let done = false;
      for (let t = 0; t < T; t++) {
        const tok = argmaxFrom(this.logits, (t * B + b) * V, V, EOS);
        if (tok === EOS) {
          done = true;
          break;
        }
        out.push(tok);
      }
      tokens.push(out);
      finished.push(done);
    }
    return { tokens, finished, steps: T };
  }

  /** The masked mean loss of the last forward without recomputing: sum / count. */
  get validTargets(): number {
    return this.validCount;
  }

  /** (T,B,V) probabilities of the last forward (valid rows only). */
  probabilities(): Vec {
    return this.probs;
  }
}

/** The index of the largest of x[off + from .. off + n): from = EOS leaves PAD and BOS out. */
function argmaxFrom(x: Vec, off: number, n: number, from: number): number {
  let best = from;
  for (let k = from + 1; k < n; k++) if (x[off + k] > x[off + best]) best = k;
  return best;
}
