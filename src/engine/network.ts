/**
 * The recurrent network: a stack of RNN / LSTM / GRU layers over one flat parameter buffer,
 * with an input (one-hot, embedding or real vectors) and a head (softmax or linear).
 *
 * Shapes (time-major, so one step's batch is one contiguous block):
 *   T time steps, B streams, I input size of the layer, H hidden size, G gates (1, 4 or 3)
 *   X      (T,B,I)     layer input
 *   gates  (T,B,G*H)   first X W_ih^T + b_ih (+ b_hh), then h_{t-1} W_hh^T is added and the
 *                      nonlinearities applied in place: it ends holding the gate activations
 *   hs     (T+1,B,H)   hs[0] = h_0 (the carried state), hs[t+1] = h_t
 *   cs     (T+1,B,H)   LSTM cell states, same indexing
 *   aux    (T,B,H)     GRU only: reset-after keeps h W_hn^T + b_hn, reset-before keeps r * h_{t-1}
 * Gate order per row follows PyTorch: LSTM i, f, g, o; GRU r, z, n.
 *
 * Equations (PyTorch form; the oracle fixtures' README has the same in Keras form):
 *   rnn   h' = tanh(W_ih x + b_ih + W_hh h + b_hh)                    (or relu)
 *   lstm  [i f g o] = [s s tanh s](W_ih x + b_ih + W_hh h + b_hh)
 *         c' = f c + i g,   h' = o tanh(c')
 *   gru   r = s(W_ir x + b_ir + W_hr h + b_hr),  z = s(W_iz x + b_iz + W_hz h + b_hz)
 *         reset after:  n = tanh(W_in x + b_in + r (W_hn h + b_hn))      (PyTorch, cuDNN)
 *         reset before: n = tanh(W_in x + b_in + W_hn (r h) + b_hn)      (Cho et al. 2014)
 *         h' = (1 - z) n + z h
 */
import type { CellKind, GruVariant } from '../protocol/config';
import { ParamStore } from './params';
import { addColumnSums, addRowVector, expInto, gemmNN, gemmNT, gemmTN, l2, sigmoidInto, tanhInto, transposeInto } from './linalg';
import type { Rng } from './random';

export type InputSpec =
  | { kind: 'onehot'; vocab: number }
  | { kind: 'embedding'; vocab: number; dim: number }
  | { kind: 'dense'; size: number };

export type HeadSpec = { kind: 'softmax'; classes: number } | { kind: 'linear'; outputs: number } | { kind: 'none' };

export interface ModelSpec {
  cell: CellKind;
  gruVariant: GruVariant;
  rnnActivation: 'tanh' | 'relu';
  layers: number;
  hidden: number;
  input: InputSpec;
  head: HeadSpec;
  dropout: number;
}

export const GATE_NAMES: Record<CellKind, string[]> = {
  rnn: ['h'],
  lstm: ['i', 'f', 'g', 'o'],
  gru: ['r', 'z', 'n'],
};

/** The hidden state carried between chunks (truncated BPTT) or steps (sampling). */
export interface RecurrentState {
  batch: number;
  h: Float64Array[]; // per layer (B,H)
  c: Float64Array[]; // per layer (B,H); empty arrays for non-LSTM cells
}

/** What one layer's forward pass keeps for its backward pass. */
interface LayerCache {
  x: Float64Array; // (T,B,I) input; for one-hot layer 0 unused (tokens are used)
  gates: Float64Array;
  hs: Float64Array;
  cs: Float64Array;
  tc: Float64Array; // (T,B,H) LSTM only: tanh(c_t), kept so the backward pass need not recompute it
  aux: Float64Array;
  mask: Float64Array | null; // inverted-dropout mask applied to x (layers > 0)
}

/** Where a backward pass records ||dL/dh_t|| (and ||dL/dc_t||) per step, for the flow diagnostic. */
export interface FlowRecorder {
  h: Float64Array[]; // per layer, length T, index t
  c: Float64Array[];
}

export class Network {
  readonly params = new ParamStore();
  readonly gates: number;
  private caches: LayerCache[] = [];
  private T = 0;
  private B = 0;
  private tokens: Int32Array = new Int32Array(0);
  private embedded: Float64Array = new Float64Array(0); // (T,B,E)
  private dG: Float64Array = new Float64Array(0); // (T,B,G*H) scratch shared by layers
  private dAux: Float64Array = new Float64Array(0); // (T,B,H)
  private dOut: Float64Array = new Float64Array(0); // (T,B,max(I,H)) gradient into a layer's outputs
  private dX: Float64Array = new Float64Array(0);
  private headBuf: Float64Array = new Float64Array(0); // (T,B,V) logits -> probabilities -> dlogits
  /** dL/dh_0 (and dc_0) per layer after backward(). */
  readonly dState0: { h: Float64Array[]; c: Float64Array[] } = { h: [], c: [] };
  /** dL/dX (T,B,I) after backward() with inputGrad: dense vectors, one-hot vectors (I = V) or embedding rows (I = E). */
  dInput: Float64Array = new Float64Array(0);

  constructor(readonly spec: ModelSpec) {
    if (spec.layers < 1) throw new Error('layers must be at least 1');
    this.gates = GATE_NAMES[spec.cell].length;
    const H = spec.hidden;
    const GH = this.gates * H;
    const p = this.params;
    if (spec.input.kind === 'embedding') p.declare('embedding.weight', [spec.input.vocab, spec.input.dim]);
    for (let l = 0; l < spec.layers; l++) {
      const I = l === 0 ? this.inputSize : H;
      p.declare(`weight_ih_l${l}`, [GH, I]);
      p.declare(`weight_hh_l${l}`, [GH, H]);
      p.declare(`bias_ih_l${l}`, [GH]);
      p.declare(`bias_hh_l${l}`, [GH]);
    }
    const out = this.outputSize;
    if (out > 0) {
      p.declare('head.weight', [out, H]);
      p.declare('head.bias', [out]);
    }
    p.allocate();
  }

  /** Size of layer 0's input vectors. */
  get inputSize(): number {
    const i = this.spec.input;
    return i.kind === 'onehot' ? i.vocab : i.kind === 'embedding' ? i.dim : i.size;
  }

  get outputSize(): number {
    const h = this.spec.head;
    return h.kind === 'softmax' ? h.classes : h.kind === 'linear' ? h.outputs : 0;
  }

  newState(batch: number): RecurrentState {
    const H = this.spec.hidden;
    const lstm = this.spec.cell === 'lstm';
    return {
      batch,
      h: Array.from({ length: this.spec.layers }, () => new Float64Array(batch * H)),
      c: Array.from({ length: this.spec.layers }, () => new Float64Array(lstm ? batch * H : 0)),
    };
  }

  private ensureBuffers(T: number, B: number): void {
    if (T === this.T && B === this.B) return;
    const H = this.spec.hidden;
    const GH = this.gates * H;
    const lstm = this.spec.cell === 'lstm';
    const gru = this.spec.cell === 'gru';
    const I0 = this.inputSize;
    this.caches = [];
    for (let l = 0; l < this.spec.layers; l++) {
      const I = l === 0 ? I0 : H;
      const needX = l > 0 ? this.spec.dropout > 0 : this.spec.input.kind !== 'onehot' && this.spec.input.kind !== 'embedding';
      this.caches.push({
        x: new Float64Array(needX ? T * B * I : 0),
        gates: new Float64Array(T * B * GH),
        hs: new Float64Array((T + 1) * B * H),
        cs: new Float64Array(lstm ? (T + 1) * B * H : 0),
        tc: new Float64Array(lstm ? T * B * H : 0),
        aux: new Float64Array(gru ? T * B * H : 0),
        mask: l > 0 && this.spec.dropout > 0 ? new Float64Array(T * B * H) : null,
      });
    }
    this.tokens = new Int32Array(T * B);
    this.embedded = new Float64Array(this.spec.input.kind === 'embedding' ? T * B * this.spec.input.dim : 0);
    this.dG = new Float64Array(T * B * GH);
    this.dAux = new Float64Array(gru ? T * B * H : 0);
    const maxI = Math.max(H, this.spec.input.kind === 'onehot' ? 0 : I0);
    this.dOut = new Float64Array(T * B * maxI);
    this.dX = new Float64Array(T * B * maxI);
    this.headBuf = new Float64Array(T * B * Math.max(1, this.outputSize));
    this.T = T;
    this.B = B;
  }

  /**
   * Forward over a chunk. `input` is token ids (T,B) for one-hot/embedding inputs, or vectors
   * (T,B,I) for dense inputs. Starts from `state` and leaves the final state in it.
   * With `rng` set (training), dropout masks are drawn.
   */
  forward(input: Int32Array | Float64Array, T: number, B: number, state: RecurrentState, rng?: Rng): void {
    if (state.batch !== B) throw new Error(`state batch ${state.batch} does not match input batch ${B}`);
    this.ensureBuffers(T, B);
    const spec = this.spec;
    const H = spec.hidden;
    const GH = this.gates * H;
    const p = this.params;
    for (let l = 0; l < spec.layers; l++) {
      const cache = this.caches[l];
      const wih = p.spec(`weight_ih_l${l}`).offset;
      const bih = p.spec(`bias_ih_l${l}`).offset;
      const bhh = p.spec(`bias_hh_l${l}`).offset;
      const W = p.data;
      const g = cache.gates;
      // The biases added to every row: b_ih, and b_hh too where it is unconditional (rnn and
      // lstm; the GRU's b_hn sits inside r * (...), so its b_hh is added in the recurrence).
      const bias = this.biasBuf.length === GH ? this.biasBuf : (this.biasBuf = new Float64Array(GH));
      for (let j = 0; j < GH; j++) bias[j] = spec.cell === 'gru' ? W[bih + j] : W[bih + j] + W[bhh + j];
      // Input projection for the whole chunk in one product: gates = X W_ih^T + biases.
      if (l === 0 && spec.input.kind === 'onehot') {
        // One-hot x: X W_ih^T is a lookup of W_ih's column x.
        const V = spec.input.vocab;
        const tok = input as Int32Array;
        this.tokens.set(tok.subarray(0, T * B));
        for (let r = 0; r < T * B; r++) {
          const v = tok[r];
          const o = r * GH;
          for (let j = 0; j < GH; j++) g[o + j] = W[wih + j * V + v] + bias[j];
        }
      } else {
        let xs: Float64Array;
        let I: number;
        if (l === 0 && spec.input.kind === 'embedding') {
          const E = spec.input.dim;
          const emb = p.spec('embedding.weight').offset;
          const tok = input as Int32Array;
          this.tokens.set(tok.subarray(0, T * B));
          for (let r = 0; r < T * B; r++) this.embedded.set(W.subarray(emb + tok[r] * E, emb + tok[r] * E + E), r * E);
          xs = this.embedded;
          I = E;
        } else if (l === 0) {
          xs = cache.x;
          I = this.inputSize;
          xs.set((input as Float64Array).subarray(0, T * B * I));
        } else {
          I = H;
          const below = this.caches[l - 1].hs.subarray(B * H);
          if (cache.mask) {
            // Inverted dropout between layers: keep with probability 1 - p, scale by 1 / (1 - p).
            const keep = 1 - spec.dropout;
            for (let i = 0; i < T * B * H; i++) {
              const m = rng ? (rng.uniform() < keep ? 1 / keep : 0) : 1;
              cache.mask[i] = m;
              cache.x[i] = below[i] * m;
            }
            xs = cache.x;
          } else {
            xs = below;
          }
        }
        gemmNT(T * B, GH, I, xs, 0, I, W, wih, I, g, 0, GH, 0);
        addRowVector(T * B, GH, g, 0, GH, bias, 0);
      }
      cache.hs.set(state.h[l], 0);
      if (spec.cell === 'lstm') cache.cs.set(state.c[l], 0);
      this.layerRecurrence(l, T, B);
      state.h[l].set(cache.hs.subarray(T * B * H, (T + 1) * B * H));
      if (spec.cell === 'lstm') state.c[l].set(cache.cs.subarray(T * B * H, (T + 1) * B * H));
    }
  }

  /** The time loop of one layer: only h_{t-1} W_hh^T remains to add at each step. */
  private layerRecurrence(l: number, T: number, B: number): void {
    const H = this.spec.hidden;
    const GH = this.gates * H;
    const W = this.params.data;
    const whh = this.params.spec(`weight_hh_l${l}`).offset;
    const bhh = this.params.spec(`bias_hh_l${l}`).offset;
    const { gates: g, hs, cs, tc, aux } = this.caches[l];
    const cell = this.spec.cell;
    const relu = this.spec.rnnActivation === 'relu';
    const resetAfter = this.spec.gruVariant === 'reset_after';
    for (let t = 0; t < T; t++) {
      const hp = t * B * H; // h_{t-1}
      const hn = hp + B * H; // h_t
      const go = t * B * GH;
      // Each step: the recurrent product, then the nonlinearities as passes over contiguous runs
      // (sigmoidInto, tanhInto), then the state update.
      if (cell === 'rnn') {
        gemmNT(B, H, H, hs, hp, H, W, whh, H, g, go, GH, 1);
        if (relu) for (let i = 0; i < B * H; i++) g[go + i] = g[go + i] > 0 ? g[go + i] : 0;
        else tanhInto(g, go, g, go, B * H);
        hs.set(g.subarray(go, go + B * H), hn);
      } else if (cell === 'lstm') {
        gemmNT(B, GH, H, hs, hp, H, W, whh, H, g, go, GH, 1);
        for (let b = 0; b < B; b++) {
          const row = go + b * GH;
          sigmoidInto(g, row, g, row, 2 * H); // i, f
          tanhInto(g, row + 2 * H, g, row + 2 * H, H); // g
          sigmoidInto(g, row + 3 * H, g, row + 3 * H, H); // o
          for (let j = 0; j < H; j++) cs[hn + b * H + j] = g[row + H + j] * cs[hp + b * H + j] + g[row + j] * g[row + 2 * H + j];
        }
        tanhInto(cs, hn, tc, hp, B * H);
        for (let b = 0; b < B; b++) {
          const row = go + b * GH;
          for (let j = 0; j < H; j++) hs[hn + b * H + j] = g[row + 3 * H + j] * tc[hp + b * H + j];
        }
      } else if (resetAfter) {
        // aux[t] = h_{t-1} W_hh^T + b_hh for all three blocks is needed; keep only the n block.
        const hg = this.scratch(B * GH);
        gemmNT(B, GH, H, hs, hp, H, W, whh, H, hg, 0, GH, 0);
        for (let b = 0; b < B; b++) {
          const row = go + b * GH;
          for (let j = 0; j < 2 * H; j++) g[row + j] = g[row + j] + hg[b * GH + j] + W[bhh + j];
          sigmoidInto(g, row, g, row, 2 * H); // r, z
          for (let j = 0; j < H; j++) {
            const hnPre = hg[b * GH + 2 * H + j] + W[bhh + 2 * H + j];
            aux[t * B * H + b * H + j] = hnPre;
            g[row + 2 * H + j] += g[row + j] * hnPre;
          }
          tanhInto(g, row + 2 * H, g, row + 2 * H, H); // n
          for (let j = 0; j < H; j++) {
            const z = g[row + H + j];
            hs[hn + b * H + j] = (1 - z) * g[row + 2 * H + j] + z * hs[hp + b * H + j];
          }
        }
      } else {
        const hg = this.scratch(B * GH);
        gemmNT(B, 2 * H, H, hs, hp, H, W, whh, H, hg, 0, GH, 0);
        const ao = t * B * H;
        for (let b = 0; b < B; b++) {
          const row = go + b * GH;
          for (let j = 0; j < 2 * H; j++) g[row + j] = g[row + j] + hg[b * GH + j] + W[bhh + j];
          sigmoidInto(g, row, g, row, 2 * H); // r, z
          for (let j = 0; j < H; j++) aux[ao + b * H + j] = g[row + j] * hs[hp + b * H + j];
        }
        // (r * h_{t-1}) W_hn^T
        gemmNT(B, H, H, aux, ao, H, W, whh + 2 * H * H, H, hg, 0, GH, 0);
        for (let b = 0; b < B; b++) {
          const row = go + b * GH;
          for (let j = 0; j < H; j++) g[row + 2 * H + j] = g[row + 2 * H + j] + hg[b * GH + j] + W[bhh + 2 * H + j];
          tanhInto(g, row + 2 * H, g, row + 2 * H, H); // n
          for (let j = 0; j < H; j++) {
            const z = g[row + H + j];
            hs[hn + b * H + j] = (1 - z) * g[row + 2 * H + j] + z * hs[hp + b * H + j];
          }
        }
      }
    }
  }

  private biasBuf = new Float64Array(0); // (G*H) the biases of a forward, the bias gradient of a backward
  private scratchBuf = new Float64Array(0);
  private scratch(n: number): Float64Array {
    if (this.scratchBuf.length < n) this.scratchBuf = new Float64Array(n);
    return this.scratchBuf;
  }

  /** Top layer outputs h_1..h_T of the last forward, (T,B,H). */
  topOutputs(): Float64Array {
    const B = this.B;
    const H = this.spec.hidden;
    return this.caches[this.spec.layers - 1].hs.subarray(B * H, (this.T + 1) * B * H);
  }

  /** Layer l's outputs h_1..h_T of the last forward, (T,B,H). */
  layerOutputs(l: number): Float64Array {
    const B = this.B;
    const H = this.spec.hidden;
    return this.caches[l].hs.subarray(B * H, (this.T + 1) * B * H);
  }

  /** Gate activations of layer l of the last forward, (T,B,G*H) (vanilla RNN: h itself). */
  layerGates(l: number): Float64Array {
    return this.caches[l].gates.subarray(0, this.T * this.B * this.gates * this.spec.hidden);
  }

  /** LSTM cell states c_1..c_T of layer l, (T,B,H). */
  layerCells(l: number): Float64Array {
    const B = this.B;
    const H = this.spec.hidden;
    return this.caches[l].cs.subarray(B * H, (this.T + 1) * B * H);
  }

  get lastT(): number {
    return this.T;
  }

  get lastB(): number {
    return this.B;
  }

  /**
   * The head on the last forward's top outputs. Softmax: mean cross-entropy against integer
   * targets (T,B), probabilities left in `probabilities()`. Linear: mean squared error against
   * targets (T,B,O). With `backward`, dL/dlogits goes into the head gradients (if `paramGrads`)
   * and into the gradient of the top outputs, ready for backward(). `lastStepOnly` restricts the
   * loss to the last time step (the flow diagnostic) and computes only that step's outputs.
   */
  head(targets: Int32Array | Float64Array, opts: { backward: boolean; paramGrads?: boolean; lastStepOnly?: boolean }): number {
    const T = this.T;
    const B = this.B;
    const H = this.spec.hidden;
    const O = this.outputSize;
    const p = this.params;
    const top = this.caches[this.spec.layers - 1].hs;
    const w = p.spec('head.weight').offset;
    const bias = p.spec('head.bias').offset;
    const z = this.headBuf;
    const N = T * B;
    const first = opts.lastStepOnly ? (T - 1) * B : 0;
    const count = N - first;
    gemmNT(count, O, H, top, (first + B) * H, H, p.data, w, H, z, first * O, O, 0);
    for (let r = first; r < N; r++) for (let k = 0; k < O; k++) z[r * O + k] += p.data[bias + k];
    let loss = 0;
    if (this.spec.head.kind === 'softmax') {
      const tg = targets as Int32Array;
      // Fused softmax + cross-entropy: dlogits = (p - onehot(target)) / count.
      for (let r = first; r < N; r++) {
        const o = r * O;
        let max = -Infinity;
        for (let k = 0; k < O; k++) if (z[o + k] > max) max = z[o + k];
        // -log p_t = log sum_k exp(z_k - max) - (z_t - max): finite even where p_t underflows to 0
        // (a confident wrong prediction), which -log(p_t) would turn into Infinity.
        const zt = z[o + tg[r]] - max;
        expInto(z, o, z, o, O, max);
        let sum = 0;
        for (let k = 0; k < O; k++) sum += z[o + k];
        for (let k = 0; k < O; k++) z[o + k] /= sum;
        loss += Math.log(sum) - zt;
      }
      loss /= count;
      if (opts.backward) {
        const dz = this.dX; // reuse as (N,O) scratch when O fits, else the shared scratch (not in use here)
        const buf = dz.length >= N * O ? dz : this.scratch(N * O);
        for (let r = first; r < N; r++) {
          const o = r * O;
          for (let k = 0; k < O; k++) buf[o + k] = z[o + k] / count;
          buf[o + tg[r]] -= 1 / count;
        }
        this.headBackward(buf, first, opts.paramGrads ?? true);
      }
    } else {
      const tg = targets as Float64Array;
      for (let r = first; r < N; r++) {
        for (let k = 0; k < O; k++) {
          const d = z[r * O + k] - tg[r * O + k];
          loss += d * d;
        }
      }
      loss /= count * O;
      if (opts.backward) {
        const buf = this.dX.length >= N * O ? this.dX : this.scratch(N * O);
        for (let r = first; r < N; r++) {
          for (let k = 0; k < O; k++) buf[r * O + k] = (2 * (z[r * O + k] - tg[r * O + k])) / (count * O);
        }
        this.headBackward(buf, first, opts.paramGrads ?? true);
      }
    }
    return loss;
  }

  /** Softmax probabilities (T,B,V) or linear predictions (T,B,O) of the last head() call (its last step's rows only after lastStepOnly). */
  headOutputs(): Float64Array {
    return this.headBuf.subarray(0, this.T * this.B * this.outputSize);
  }

  /** Backward through the head from dz (rows first..N-1 of (N,O); the rows before carry no loss). */
  private headBackward(dz: Float64Array, first: number, paramGrads: boolean): void {
    const N = this.T * this.B;
    const rows = N - first;
    const H = this.spec.hidden;
    const O = this.outputSize;
    const p = this.params;
    const top = this.caches[this.spec.layers - 1].hs;
    const w = p.spec('head.weight').offset;
    if (paramGrads) {
      gemmTN(O, H, rows, dz, first * O, O, top, (first + this.B) * H, H, p.grad, w, H, 1);
      addColumnSums(rows, O, dz, first * O, O, p.grad, p.spec('head.bias').offset);
    }
    // dL/dh_top = dlogits W_head; stored as the gradient into the top layer's outputs.
    this.dOut.fill(0, 0, first * H);
    gemmNN(rows, H, O, dz, first * O, O, p.data, w, H, this.dOut, first * H, H, 0);
  }

  /** Sets the gradient of the top outputs directly (losses defined on h, e.g. the oracle's sum of squares). */
  setTopGradient(dTop: Float64Array): void {
    this.dOut.set(dTop.subarray(0, this.T * this.B * this.spec.hidden));
  }

  /**
   * Backpropagation through time over the last forward's chunk, from the gradient of the top
   * outputs (set by head() or setTopGradient()). The gradient stops at the chunk's start (truncated
   * BPTT): dL/dh_0 is reported in dState0 but not carried further.
   */
  backward(opts: { paramGrads?: boolean; inputGrad?: boolean; flow?: FlowRecorder } = {}): void {
    const paramGrads = opts.paramGrads ?? true;
    const spec = this.spec;
    const T = this.T;
    const B = this.B;
    const H = spec.hidden;
    const GH = this.gates * H;
    const p = this.params;
    for (let l = spec.layers - 1; l >= 0; l--) {
      const cache = this.caches[l];
      this.layerBackward(l, T, B, opts.flow);
      const dG = this.dG;
      const W = p.data;
      const wih = p.spec(`weight_ih_l${l}`).offset;
      const whh = p.spec(`weight_hh_l${l}`).offset;
      const N = T * B;
      if (paramGrads) {
        const gr = p.grad;
        // dW_ih = dG^T X, db_ih = sum dG (one product for the whole chunk, outside the time loop)
        if (l === 0 && spec.input.kind === 'onehot') {
          const V = spec.input.vocab;
          for (let r = 0; r < N; r++) {
            const v = this.tokens[r];
            for (let j = 0; j < GH; j++) gr[wih + j * V + v] += dG[r * GH + j];
          }
        } else {
          const I = l === 0 ? this.inputSize : H;
          const xs = l === 0 ? (spec.input.kind === 'embedding' ? this.embedded : cache.x) : cache.mask ? cache.x : this.caches[l - 1].hs;
          const xOff = l > 0 && !cache.mask ? B * H : 0;
          gemmTN(GH, I, N, dG, 0, GH, xs, xOff, I, gr, wih, I, 1);
        }
        // db_ih = the sum of dG's rows. db_hh is the same sum wherever b_hh adds to the same
        // pre-activation as b_ih: every block but the reset-after GRU's b_hn (inside r * (...)).
        const bih = p.spec(`bias_ih_l${l}`).offset;
        const bhh = p.spec(`bias_hh_l${l}`).offset;
        const db = this.biasBuf;
        db.fill(0);
        addColumnSums(N, GH, dG, 0, GH, db, 0);
        for (let j = 0; j < GH; j++) gr[bih + j] += db[j];
        // dW_hh = dG_h^T [h_0..h_{T-1}], where dG_h is the gradient of the recurrent pre-activations.
        if (spec.cell !== 'gru') {
          gemmTN(GH, H, N, dG, 0, GH, cache.hs, 0, H, gr, whh, H, 1);
          for (let j = 0; j < GH; j++) gr[bhh + j] += db[j];
        } else {
          gemmTN(2 * H, H, N, dG, 0, GH, cache.hs, 0, H, gr, whh, H, 1);
          for (let j = 0; j < 2 * H; j++) gr[bhh + j] += db[j];
          if (spec.gruVariant === 'reset_after') {
            gemmTN(H, H, N, this.dAux, 0, H, cache.hs, 0, H, gr, whh + 2 * H * H, H, 1);
            addColumnSums(N, H, this.dAux, 0, H, gr, bhh + 2 * H);
          } else {
            gemmTN(H, H, N, dG, 2 * H, GH, cache.aux, 0, H, gr, whh + 2 * H * H, H, 1);
            for (let j = 2 * H; j < GH; j++) gr[bhh + j] += db[j];
          }
        }
      }
      // Gradient into this layer's input: dX = dG W_ih.
      if (l > 0) {
        gemmNN(N, H, GH, dG, 0, GH, W, wih, H, this.dOut, 0, H, 0);
        if (cache.mask) for (let i = 0; i < N * H; i++) this.dOut[i] *= cache.mask[i];
      } else if (spec.input.kind === 'embedding' && paramGrads) {
        const E = spec.input.dim;
        gemmNN(N, E, GH, dG, 0, GH, W, wih, E, this.dX, 0, E, 0);
        const emb = p.spec('embedding.weight').offset;
        for (let r = 0; r < N; r++) {
          const o = emb + this.tokens[r] * E;
          for (let k = 0; k < E; k++) p.grad[o + k] += this.dX[r * E + k];
        }
      } else if (spec.input.kind === 'dense' && opts.inputGrad) {
        const I = this.inputSize;
        if (this.dInput.length !== N * I) this.dInput = new Float64Array(N * I);
        gemmNN(N, I, GH, dG, 0, GH, W, wih, I, this.dInput, 0, I, 0);
      }
      if (l === 0 && opts.inputGrad && spec.input.kind !== 'dense') {
        // dL/dx_t = dG_t W_ih for one-hot inputs (the whole V-vector, not only the hot entry) and
        // for embeddings (the looked-up row): what input influence (src/engine/inspect.ts) needs.
        const I = this.inputSize;
        if (this.dInput.length !== N * I) this.dInput = new Float64Array(N * I);
        gemmNN(N, I, GH, dG, 0, GH, W, wih, I, this.dInput, 0, I, 0);
      }
    }
  }

  /**
   * The backward time loop of layer l: reads dOut (gradient into h_1..h_T from above), writes
   * dG (gradient of the gate pre-activations) and dAux, and dState0.
   */
  private layerBackward(l: number, T: number, B: number, flow?: FlowRecorder): void {
    const H = this.spec.hidden;
    const GH = this.gates * H;
    const W = this.params.data;
    const whh = this.params.spec(`weight_hh_l${l}`).offset;
    const { gates: g, hs, cs, tc: tanhC, aux } = this.caches[l];
    const dG = this.dG;
    const dAux = this.dAux;
    const dOut = this.dOut;
    const cell = this.spec.cell;
    const relu = this.spec.rnnActivation === 'relu';
    const resetAfter = this.spec.gruVariant === 'reset_after';
    let dh = new Float64Array(B * H); // dL/dh_t, accumulated from above and from step t+1
    let dhPrev = new Float64Array(B * H);
    const dc = new Float64Array(cell === 'lstm' ? B * H : 0);
    const drh = new Float64Array(cell === 'gru' && !resetAfter ? B * H : 0);
    // dh_{t-1} = dG_t W_hh at every step, contiguous either way. Batch 1: gemmNN's single-row
    // path, eight rows of W_hh as they are per pass. Larger batches: W_hh^T [H, G*H] once per
    // pass, then rows dotted with rows (gemmNT's register tiles). recurrent() adds
    // src[B, rows] W_hh[r0..r0+rows) into dst[B, H].
    const whhT = this.scratch(B === 1 ? 0 : GH * H);
    if (B > 1) transposeInto(GH, H, W, whh, H, whhT);
    const recurrent = (src: Float64Array, sOff: number, ld: number, r0: number, rows: number, dst: Float64Array, beta: 0 | 1): void => {
      if (B === 1) gemmNN(1, H, rows, src, sOff, ld, W, whh + r0 * H, H, dst, 0, H, beta);
      else gemmNT(B, H, rows, src, sOff, ld, whhT, r0, GH, dst, 0, H, beta);
    };
    for (let t = T - 1; t >= 0; t--) {
      const hp = t * B * H;
      const go = t * B * GH;
      const oo = t * B * H;
      for (let i = 0; i < B * H; i++) dh[i] += dOut[oo + i];
      if (flow) flow.h[l][t] = l2(dh); // ||dL/dh_t||, the flow diagnostic
      if (cell === 'rnn') {
        for (let i = 0; i < B * H; i++) {
          const h = g[go + i];
          dG[go + i] = relu ? (h > 0 ? dh[i] : 0) : dh[i] * (1 - h * h);
        }
        recurrent(dG, go, GH, 0, H, dhPrev, 0);
      } else if (cell === 'lstm') {
        let cnorm = 0;
        for (let b = 0; b < B; b++) {
          const row = go + b * GH;
          for (let j = 0; j < H; j++) {
            const k = b * H + j;
            const i = g[row + j], f = g[row + H + j], gg = g[row + 2 * H + j], o = g[row + 3 * H + j];
            const tc = tanhC[oo + k];
            const dct = dc[k] + dh[k] * o * (1 - tc * tc); // total dL/dc_t: carried + through h_t
            cnorm += dct * dct;
            dG[row + j] = dct * gg * i * (1 - i);
            dG[row + H + j] = dct * cs[hp + k] * f * (1 - f);
            dG[row + 2 * H + j] = dct * i * (1 - gg * gg);
            dG[row + 3 * H + j] = dh[k] * tc * o * (1 - o);
            dc[k] = dct * f; // the highway: dL/dc_{t-1} is an elementwise product with f
          }
        }
        if (flow) flow.c[l][t] = Math.sqrt(cnorm);
        recurrent(dG, go, GH, 0, GH, dhPrev, 0);
      } else {
        for (let b = 0; b < B; b++) {
          const row = go + b * GH;
          for (let j = 0; j < H; j++) {
            const k = b * H + j;
            const z = g[row + H + j], n = g[row + 2 * H + j];
            const hprev = hs[hp + k];
            dG[row + H + j] = dh[k] * (hprev - n) * z * (1 - z);
            dG[row + 2 * H + j] = dh[k] * (1 - z) * (1 - n * n);
          }
        }
        if (resetAfter) {
          for (let b = 0; b < B; b++) {
            const row = go + b * GH;
            for (let j = 0; j < H; j++) {
              const r = g[row + j];
              const dnp = dG[row + 2 * H + j];
              dG[row + j] = dnp * aux[oo + b * H + j] * r * (1 - r);
              dAux[oo + b * H + j] = dnp * r;
            }
          }
          recurrent(dG, go, GH, 0, 2 * H, dhPrev, 0);
          recurrent(dAux, oo, H, 2 * H, H, dhPrev, 1);
        } else {
          // d(r h) = dn_pre W_hn
          recurrent(dG, go + 2 * H, GH, 2 * H, H, drh, 0);
          for (let b = 0; b < B; b++) {
            const row = go + b * GH;
            for (let j = 0; j < H; j++) {
              const k = b * H + j;
              const r = g[row + j];
              dG[row + j] = drh[k] * hs[hp + k] * r * (1 - r);
            }
          }
          recurrent(dG, go, GH, 0, 2 * H, dhPrev, 0);
          for (let b = 0; b < B; b++) {
            for (let j = 0; j < H; j++) dhPrev[b * H + j] += drh[b * H + j] * g[go + b * GH + j];
          }
        }
        for (let b = 0; b < B; b++) {
          for (let j = 0; j < H; j++) dhPrev[b * H + j] += dh[b * H + j] * g[go + b * GH + H + j];
        }
      }
      const swap = dh;
      dh = dhPrev;
      dhPrev = swap;
    }
    this.dState0.h[l] = dh;
    this.dState0.c[l] = dc;
  }
}
