/**
 * The character language model and the forecaster: a composition of ops (./ops) over one
 * ParamStore. Input (one-hot, embedding or real vectors) -> a stack of RNN / LSTM / GRU cells ->
 * a head (linear into softmax-CE for text, linear into MSE for series).
 *
 * Shapes are time-major, as in ./ops/cell.ts: T time steps, B streams, I input size of a layer,
 * H hidden size, G gates (1, 4 or 3); X (T,B,I), gates (T,B,G*H), hs (T+1,B,H), logits (T,B,V).
 * The cell equations are in ./ops/rnn.ts, ./ops/lstm.ts and ./ops/gru.ts (PyTorch form; the
 * oracle fixtures' README has the same in Keras form).
 */
import type { CellKind, GruVariant } from '../protocol/config';
import type { Vec } from './linalg';
import { ParamStore, type Precision } from './params';
import { allocF32, releaseF32 } from './wasm/kernels';
import type { Rng } from './random';
import {
  cellInputBackward, cellInputForward, cellParamBackward, cellParamsOf, cellRowBias, GATE_NAMES, newCellCache, newCellGradCarry,
  onehotInputBackward, onehotInputForward, recurrentProduct, type CellCache, type CellGradCarry, type CellParams,
} from './ops/cell';
import { embeddingBackward, embeddingForward } from './ops/embedding';
import { linearForward, linearInputBackward, linearParamBackward } from './ops/linear';
import { meanSquaredErrorBackward, meanSquaredErrorForward, softmaxCrossEntropyBackward, softmaxCrossEntropyForward } from './ops/loss';
import { cellBackward, cellForward } from './ops/recurrent';

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

export { GATE_NAMES };

/** The hidden state carried between chunks (truncated BPTT) or steps (sampling). */
export interface RecurrentState {
  batch: number;
  h: Vec[]; // per layer (B,H)
  c: Vec[]; // per layer (B,H); empty arrays for non-LSTM cells
}

/** What one layer's forward pass keeps for its backward pass: the cell's cache and its input. */
interface LayerCache extends CellCache {
  x: Vec; // (T,B,I) input; for one-hot layer 0 unused (tokens are used)
  mask: Vec | null; // inverted-dropout mask applied to x (layers > 0)
}

/** Where a backward pass records ||dL/dh_t|| (and ||dL/dc_t||) per step, for the flow diagnostic. */
export interface FlowRecorder {
  h: Float64Array[]; // per layer, length T, index t
  c: Float64Array[];
}

export class Network {
  readonly params: ParamStore;
  readonly gates: number;
  private caches: LayerCache[] = [];
  private readonly cellParams: CellParams[] = [];
  private T = 0;
  private B = 0;
  private tokens: Int32Array = new Int32Array(0);
  private embedded: Vec = new Float64Array(0); // (T,B,E)
  private dG: Vec = new Float64Array(0); // (T,B,G*H) scratch shared by layers
  private dAux: Vec = new Float64Array(0); // (T,B,H)
  private dOut: Vec = new Float64Array(0); // (T,B,max(I,H)) gradient into a layer's outputs
  private dX: Vec = new Float64Array(0);
  private headBuf: Vec = new Float64Array(0); // (T,B,V) logits -> probabilities -> dlogits
  private carries: CellGradCarry[] = []; // per layer, reused by every backward()
  /** dL/dh_0 (and dc_0) per layer after backward() (overwritten by the next backward()). */
  readonly dState0: { h: Vec[]; c: Vec[] } = { h: [], c: [] };
  /** dL/dX (T,B,I) after backward() with inputGrad: dense vectors, one-hot vectors (I = V) or embedding rows (I = E). */
  dInput: Vec = new Float64Array(0);
  /** The arena views ensureBuffers() made (float32), given back when the shapes change. */
  private owned: Float32Array[] = [];
  readonly precision: Precision;

  /**
   * precision "float64": Float64Arrays and the JavaScript kernels (the reference). "float32":
   * Float32Arrays in the WebAssembly kernels' arena, so every product and gate pass runs in the
   * f32x4 kernels (src/engine/wasm/kernels.ts); the caller picks it only where SIMD is available.
   */
  constructor(readonly spec: ModelSpec, precision: Precision = 'float64') {
    if (spec.layers < 1) throw new Error('layers must be at least 1');
    this.precision = precision;
    this.params = new ParamStore(precision);
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
    for (let l = 0; l < spec.layers; l++) this.cellParams.push(cellParamsOf(p, '', l));
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

  /** A zeroed working array of this network's precision (float32: in the kernels' arena). */
  readonly alloc = (n: number): Vec => {
    if (this.precision === 'float64') return new Float64Array(n);
    const a = allocF32(n);
    this.owned.push(a);
    return a;
  };

  /** A zeroed array of this network's precision outside the arena (states, small records). */
  plain(n: number): Vec {
    return this.precision === 'float32' ? new Float32Array(n) : new Float64Array(n);
  }

  /** Gives every arena view of this network's buffers back (its parameters stay): call when done with it. */
  releaseBuffers(): void {
    for (const a of this.owned) releaseF32(a);
    this.owned = [];
    this.T = 0;
    this.B = 0;
    this.carries = [];
    this.biasBuf = new Float64Array(0);
    this.scratchBuf = new Float64Array(0);
    this.dInput = new Float64Array(0);
  }

  newState(batch: number): RecurrentState {
    const H = this.spec.hidden;
    const lstm = this.spec.cell === 'lstm';
    return {
      batch,
      h: Array.from({ length: this.spec.layers }, () => this.plain(batch * H)),
      c: Array.from({ length: this.spec.layers }, () => this.plain(lstm ? batch * H : 0)),
    };
  }

  private ensureBuffers(T: number, B: number): void {
    if (T === this.T && B === this.B) return;
    this.releaseBuffers();
    const H = this.spec.hidden;
    const GH = this.gates * H;
    const gru = this.spec.cell === 'gru';
    const I0 = this.inputSize;
    this.caches = [];
    for (let l = 0; l < this.spec.layers; l++) {
      const I = l === 0 ? I0 : H;
      const needX = l > 0 ? this.spec.dropout > 0 : this.spec.input.kind !== 'onehot' && this.spec.input.kind !== 'embedding';
      this.caches.push({
        ...newCellCache(this.spec, T, B, this.alloc),
        x: this.alloc(needX ? T * B * I : 0),
        mask: l > 0 && this.spec.dropout > 0 ? this.alloc(T * B * H) : null,
      });
    }
    this.tokens = new Int32Array(T * B);
    this.embedded = this.alloc(this.spec.input.kind === 'embedding' ? T * B * this.spec.input.dim : 0);
    this.dG = this.alloc(T * B * GH);
    this.dAux = this.alloc(gru ? T * B * H : 0);
    const maxI = Math.max(H, this.spec.input.kind === 'onehot' ? 0 : I0);
    this.dOut = this.alloc(T * B * maxI);
    this.dX = this.alloc(T * B * maxI);
    this.headBuf = this.alloc(T * B * Math.max(1, this.outputSize));
    this.biasBuf = this.alloc(GH);
    this.carries = Array.from({ length: this.spec.layers }, () => newCellGradCarry(this.spec, B, this.alloc));
    this.T = T;
    this.B = B;
  }

  /**
   * Forward over a chunk. `input` is token ids (T,B) for one-hot/embedding inputs, or vectors
   * (T,B,I) for dense inputs. Starts from `state` and leaves the final state in it.
   * With `rng` set (training), dropout masks are drawn, one uniform per (t, b, unit) in that
   * order. `rows`: these B streams are rows [start, start + B) of a batch of `batch` (a worker's
   * share, ./shard.ts); the uniforms of the whole batch are drawn and this share's kept, so every
   * share gets the masks one forward over the whole batch would.
   */
  forward(input: Int32Array | Vec, T: number, B: number, state: RecurrentState, rng?: Rng, rows?: { start: number; batch: number }): void {
    if (state.batch !== B) throw new Error(`state batch ${state.batch} does not match input batch ${B}`);
    this.ensureBuffers(T, B);
    const spec = this.spec;
    const H = spec.hidden;
    const GH = this.gates * H;
    const p = this.params;
    const W = p.data;
    for (let l = 0; l < spec.layers; l++) {
      const cache = this.caches[l];
      const cp = this.cellParams[l];
      const g = cache.gates;
      const bias = this.biasBuf;
      cellRowBias(spec, W, cp, bias);
      // Input projection for the whole chunk in one product: gates = X W_ih^T + biases.
      if (l === 0 && spec.input.kind === 'onehot') {
        const tok = input as Int32Array;
        this.tokens.set(tok.subarray(0, T * B));
        onehotInputForward(T * B, GH, spec.input.vocab, tok, W, cp, bias, g);
      } else {
        let xs: Vec;
        let I: number;
        if (l === 0 && spec.input.kind === 'embedding') {
          const E = spec.input.dim;
          const tok = input as Int32Array;
          this.tokens.set(tok.subarray(0, T * B));
          embeddingForward(W, p.spec('embedding.weight').offset, E, tok, 0, T * B, this.embedded);
          xs = this.embedded;
          I = E;
        } else if (l === 0) {
          xs = cache.x;
          I = this.inputSize;
          xs.set((input as Vec).subarray(0, T * B * I));
        } else {
          I = H;
          const below = this.caches[l - 1].hs.subarray(B * H);
          if (cache.mask) {
            // Inverted dropout between layers: keep with probability 1 - p, scale by 1 / (1 - p).
            const keep = 1 - spec.dropout;
            if (rows && rng) {
              const end = rows.start + B;
              for (let t = 0; t < T; t++) {
                for (let b = 0; b < rows.batch; b++) {
                  const mine = b >= rows.start && b < end;
                  const o = (t * B + b - rows.start) * H;
                  for (let j = 0; j < H; j++) {
                    const m = rng.uniform() < keep ? 1 / keep : 0;
                    if (mine) {
                      cache.mask[o + j] = m;
                      cache.x[o + j] = below[o + j] * m;
                    }
                  }
                }
              }
            } else {
              for (let i = 0; i < T * B * H; i++) {
                const m = rng ? (rng.uniform() < keep ? 1 / keep : 0) : 1;
                cache.mask[i] = m;
                cache.x[i] = below[i] * m;
              }
            }
            xs = cache.x;
          } else {
            xs = below;
          }
        }
        cellInputForward(T * B, I, GH, xs, 0, I, W, cp, bias, g, 0);
      }
      cache.hs.set(state.h[l], 0);
      if (spec.cell === 'lstm') cache.cs.set(state.c[l], 0);
      cellForward(spec, W, cp, cache, 0, T, B, this.scratch(B * GH));
      state.h[l].set(cache.hs.subarray(T * B * H, (T + 1) * B * H));
      if (spec.cell === 'lstm') state.c[l].set(cache.cs.subarray(T * B * H, (T + 1) * B * H));
    }
  }

  private biasBuf: Vec = new Float64Array(0); // (G*H) the biases of a forward, the bias gradient of a backward
  private scratchBuf: Vec = new Float64Array(0);
  private scratch(n: number): Vec {
    if (this.scratchBuf.length < n) this.scratchBuf = this.alloc(n);
    return this.scratchBuf;
  }

  /** Top layer outputs h_1..h_T of the last forward, (T,B,H). */
  topOutputs(): Vec {
    const B = this.B;
    const H = this.spec.hidden;
    return this.caches[this.spec.layers - 1].hs.subarray(B * H, (this.T + 1) * B * H);
  }

  /** Layer l's outputs h_1..h_T of the last forward, (T,B,H). */
  layerOutputs(l: number): Vec {
    const B = this.B;
    const H = this.spec.hidden;
    return this.caches[l].hs.subarray(B * H, (this.T + 1) * B * H);
  }

  /** Gate activations of layer l of the last forward, (T,B,G*H) (vanilla RNN: h itself). */
  layerGates(l: number): Vec {
    return this.caches[l].gates.subarray(0, this.T * this.B * this.gates * this.spec.hidden);
  }

  /** LSTM cell states c_1..c_T of layer l, (T,B,H). */
  layerCells(l: number): Vec {
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
   * `denominator`: the number of positions the mean is over (default: those computed here); a
   * worker of a sharded batch passes the whole batch's, so its loss and gradient are its share of
   * the batch's mean (./shard.ts).
   */
  head(targets: Int32Array | Vec, opts: { backward: boolean; paramGrads?: boolean; lastStepOnly?: boolean; denominator?: number }): number {
    const T = this.T;
    const B = this.B;
    const H = this.spec.hidden;
    const O = this.outputSize;
    const p = this.params;
    const top = this.caches[this.spec.layers - 1].hs;
    const z = this.headBuf;
    const N = T * B;
    const first = opts.lastStepOnly ? (T - 1) * B : 0;
    const count = opts.denominator ?? N - first;
    linearForward(N - first, O, H, top, (first + B) * H, H, p.data, p.spec('head.weight').offset, p.spec('head.bias').offset, z, first * O);
    // dX is free during the head (it is the embedding's scratch in backward()); reuse it for dlogits when it fits.
    const dz = () => (this.dX.length >= N * O ? this.dX : this.scratch(N * O));
    let loss: number;
    if (this.spec.head.kind === 'softmax') {
      const tg = targets as Int32Array;
      loss = softmaxCrossEntropyForward(z, first, N, O, tg) / count;
      if (opts.backward) {
        const buf = dz();
        softmaxCrossEntropyBackward(z, first, N, O, tg, count, buf);
        this.headBackward(buf, first, opts.paramGrads ?? true);
      }
    } else {
      const tg = targets as Vec;
      loss = meanSquaredErrorForward(z, first, N, O, tg) / (count * O);
      if (opts.backward) {
        const buf = dz();
        meanSquaredErrorBackward(z, first, N, O, tg, count * O, buf);
        this.headBackward(buf, first, opts.paramGrads ?? true);
      }
    }
    return loss;
  }

  /** Softmax probabilities (T,B,V) or linear predictions (T,B,O) of the last head() call (its last step's rows only after lastStepOnly). */
  headOutputs(): Vec {
    return this.headBuf.subarray(0, this.T * this.B * this.outputSize);
  }

  /** Backward through the head from dz (rows first..N-1 of (N,O); the rows before carry no loss). */
  private headBackward(dz: Vec, first: number, paramGrads: boolean): void {
    const N = this.T * this.B;
    const rows = N - first;
    const H = this.spec.hidden;
    const O = this.outputSize;
    const p = this.params;
    const top = this.caches[this.spec.layers - 1].hs;
    const w = p.spec('head.weight').offset;
    if (paramGrads) linearParamBackward(rows, O, H, dz, first * O, top, (first + this.B) * H, H, p.grad, w, p.spec('head.bias').offset);
    // dL/dh_top = dlogits W_head; stored as the gradient into the top layer's outputs.
    this.dOut.fill(0, 0, first * H);
    linearInputBackward(rows, O, H, dz, first * O, p.data, w, this.dOut, first * H, H, 0);
  }

  /** Sets the gradient of the top outputs directly (losses defined on h, e.g. the oracle's sum of squares). */
  setTopGradient(dTop: Vec): void {
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
    const W = p.data;
    const N = T * B;
    for (let l = spec.layers - 1; l >= 0; l--) {
      const cache = this.caches[l];
      const cp = this.cellParams[l];
      const dG = this.dG;
      // The backward time loop: reads dOut (gradient into h_1..h_T from above), writes dG, dAux
      // and dL/dh_0 (dc_0) into the carry, which starts at zero (truncated BPTT).
      const carry = this.carries[l];
      for (const a of [carry.dh, carry.dhPrev, carry.dc, carry.drh]) a.fill(0);
      const recurrent = recurrentProduct(W, cp.whh, B, GH, H, this.scratch(B === 1 ? 0 : GH * H));
      cellBackward(spec, cache, this.dOut, dG, this.dAux, carry, 0, T, B, recurrent, opts.flow?.h[l], opts.flow?.c[l]);
      this.dState0.h[l] = carry.dh;
      this.dState0.c[l] = carry.dc;
      if (paramGrads) {
        // dW_ih = dG^T X, db_ih = sum dG (one product for the whole chunk, outside the time loop)
        let xs: Vec | null = null;
        let xOff = 0;
        const I = l === 0 ? this.inputSize : H;
        if (l === 0 && spec.input.kind === 'onehot') onehotInputBackward(N, GH, spec.input.vocab, this.tokens, dG, p.grad, cp);
        else {
          xs = l === 0 ? (spec.input.kind === 'embedding' ? this.embedded : cache.x) : cache.mask ? cache.x : this.caches[l - 1].hs;
          xOff = l > 0 && !cache.mask ? B * H : 0;
        }
        cellParamBackward(spec, N, 0, I, xs, xOff, I, cache, dG, this.dAux, p.grad, cp, this.biasBuf);
      }
      // Gradient into this layer's input: dX = dG W_ih.
      if (l > 0) {
        cellInputBackward(N, 0, H, GH, dG, W, cp, this.dOut, 0);
        if (cache.mask) for (let i = 0; i < N * H; i++) this.dOut[i] *= cache.mask[i];
      } else if (spec.input.kind === 'embedding' && paramGrads) {
        const E = spec.input.dim;
        cellInputBackward(N, 0, E, GH, dG, W, cp, this.dX, 0);
        embeddingBackward(p.grad, p.spec('embedding.weight').offset, E, this.tokens, 0, N, this.dX);
      } else if (spec.input.kind === 'dense' && opts.inputGrad) {
        const I = this.inputSize;
        if (this.dInput.length !== N * I) this.dInput = this.alloc(N * I);
        cellInputBackward(N, 0, I, GH, dG, W, cp, this.dInput, 0);
      }
      if (l === 0 && opts.inputGrad && spec.input.kind !== 'dense') {
        // dL/dx_t = dG_t W_ih for one-hot inputs (the whole V-vector, not only the hot entry) and
        // for embeddings (the looked-up row): what input influence (src/engine/inspect.ts) needs.
        const I = this.inputSize;
        if (this.dInput.length !== N * I) this.dInput = this.alloc(N * I);
        cellInputBackward(N, 0, I, GH, dG, W, cp, this.dInput, 0);
      }
    }
  }
}
