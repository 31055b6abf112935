/**
 * The training loop for one run: truncated BPTT over B parallel streams, clipping, the optimizer,
 * validation, and the diagnostics records. Pure TS: the CLI, a worker_threads worker and a Web
 * Worker all drive it through runSession().
 */
import type { DiagnosticsRecord, EnginePath, RunConfig, SaturationEntry, SpectrumEntry } from '../protocol/config';
import { SpectrumTracker } from './diagnostics/spectrum';
import { gateSaturation } from './diagnostics/saturation';
import type { Dataset } from './data';
import { StreamBatcher } from './data';
import { EngineError } from './errors';
import { initialize } from './init';
import { l2, type Vec } from './linalg';
import { modelSpecFor } from './modelSpec';
import { Network, type RecurrentState } from './network';
import { clipGradients, DEFAULT_OPTIMIZER, Optimizer, type ClipResult } from './optim';
import type { Precision } from './params';
import { Rng } from './random';
import { flowOf, workerCount, type ParallelHost, type ShardedGradients, type ShardResult, type ShardTransport } from './shard';
import { kernelArena, releaseF32 } from './wasm/kernels';

/**
 * The engine a config trains on: precision float32 takes the WebAssembly SIMD kernels when the
 * host validates SIMD and the arena could be reserved; otherwise (and for float64) the float64
 * JavaScript engine, the reference.
 */
export function enginePathFor(config: Pick<RunConfig, 'precision'>): EnginePath {
  return config.precision !== 'float64' && kernelArena() ? 'wasm-simd-f32' : 'js-f64';
}

/**
 * What every trainer (the language models', seq2seq's) sets up the same way from its config: the
 * engine path and its precision, and the optimizer over the model's flat parameters with the
 * config's kind and momentum, its moments of that precision.
 */
export function trainingSetup(config: RunConfig): { path: EnginePath; precision: Precision; optimizerFor(size: number): Optimizer } {
  const path = enginePathFor(config);
  const precision: Precision = path === 'wasm-simd-f32' ? 'float32' : 'float64';
  const optimizerFor = (size: number) => new Optimizer(size, { ...DEFAULT_OPTIMIZER, kind: config.optimizer, momentum: config.optimizer === 'sgd' ? config.momentum : 0 }, precision);
  return { path, precision, optimizerFor };
}

export interface StepResult {
  step: number;
  loss: number;
  clip: ClipResult;
  lr: number;
  spectrum: SpectrumEntry[];
  /** L2 norm of each parameter tensor's gradient before clipping. */
  paramGradNorms: Record<string, number>;
  diagnostics?: DiagnosticsRecord;
}

/** The smallest number of positions a training split needs for `batch` streams of `seqLength + 1`. */
export function minPositions(config: RunConfig): number {
  return config.batch * (config.seqLength + 1);
}

export class Trainer {
  readonly net: Network;
  readonly rng: Rng;
  readonly optimizer: Optimizer;
  readonly state: RecurrentState;
  readonly batcher: StreamBatcher;
  readonly spectrum: SpectrumTracker;
  step = 0;
  clipCount = 0;
  seen = 0;
  private readonly input: Int32Array | Float64Array;
  private readonly target: Int32Array | Float64Array;
  private readonly lastGood: Vec;
  /** The engine this run trains on (see enginePathFor). */
  readonly path: EnginePath;
  private evalNet: Network | null = null;
  /** The gradient workers when the batch is split over more than one (./shard.ts); null: this thread computes the gradient. */
  private readonly shards: ShardedGradients | null = null;
  /** How many workers share the batch, and how they share memory (none when one). */
  readonly workers: number = 1;
  readonly transport?: ShardTransport;
  /** Why the run trains on one worker although more were asked for or are the default. */
  readonly workersNote?: string;

  /** `parallel`: the host's cores and its way of starting gradient workers; without it, one worker (this thread). */
  constructor(
    readonly config: RunConfig,
    readonly dataset: Dataset,
    parallel?: ParallelHost,
  ) {
    this.rng = new Rng(config.seed);
    const setup = trainingSetup(config);
    this.path = setup.path;
    this.net = new Network(modelSpecFor(config, dataset), setup.precision);
    initialize(this.net, this.rng, config);
    this.optimizer = setup.optimizerFor(this.net.params.size);
    const B = config.batch;
    const T = config.seqLength;
    const width = dataset.kind === 'text' ? 1 : dataset.channels;
    this.batcher = new StreamBatcher(dataset.train, width, B, T);
    const wanted = parallel ? workerCount(config.workers, B, parallel.cores) : 1;
    if (wanted > 1) {
      const started = parallel?.start
        ? parallel.start({ spec: this.net.spec, path: this.path, paramSize: this.net.params.size, T, B, width, text: dataset.kind === 'text', workers: wanted })
        : { reason: parallel?.reason ?? 'this host cannot start gradient workers' };
      if ('reason' in started) this.workersNote = started.reason;
      else {
        this.shards = started;
        this.workers = started.workers;
        this.transport = started.transport;
      }
    }
    this.input = this.shards?.input ?? (dataset.kind === 'text' ? new Int32Array(T * B) : new Float64Array(T * B * width));
    this.target = this.shards?.target ?? (dataset.kind === 'text' ? new Int32Array(T * B) : new Float64Array(T * B * width));
    this.state = this.shards?.state ?? this.net.newState(B);
    this.lastGood = this.net.plain(this.net.params.size);
    this.spectrum = new SpectrumTracker(this.net);
  }

  get lr(): number {
    const c = this.config;
    return c.lr * Math.pow(c.lrDecay, Math.floor(this.step / c.lrDecayEvery));
  }

  get clipFraction(): number {
    return this.step === 0 ? 0 : this.clipCount / this.step;
  }

  /** Resets the carried hidden state (explicit reset; also done when the streams wrap). */
  resetState(): void {
    for (const h of this.state.h) h.fill(0);
    for (const c of this.state.c) c.fill(0);
  }

  /** Whether a step waits for messages (gradient workers over message transfer): then only trainStepAsync steps. */
  get asyncSteps(): boolean {
    return !!this.shards?.gradientAsync;
  }

  /**
   * One truncated-BPTT step. With `diagnose`, also measures saturation on this chunk, per-tensor
   * gradient norms, the flow of the last step's loss back through time, and sigma_1 of W_hh.
   * Throws EngineError('diverged') on a non-finite loss or gradient; the parameters then stay
   * those of the last good step.
   */
  trainStep(diagnose = false, fullSpectrum = false): StepResult {
    const shards = this.shards;
    if (shards && !shards.gradient) throw new Error(`gradient workers over ${shards.transport} step asynchronously: use trainStepAsync`);
    this.nextChunk();
    const g = shards ? shards.gradient!(this.net.params.data, this.net.params.grad, diagnose, this.rng) : this.localGradient(diagnose);
    return this.applyGradient(g, diagnose, fullSpectrum);
  }

  /** trainStep for any trainer, waiting for the gradient workers' replies when they come as messages. */
  async trainStepAsync(diagnose = false, fullSpectrum = false): Promise<StepResult> {
    const shards = this.shards;
    if (!shards?.gradientAsync) return this.trainStep(diagnose, fullSpectrum);
    this.nextChunk();
    const g = await shards.gradientAsync(this.net.params.data, this.net.params.grad, diagnose, this.rng);
    return this.applyGradient(g, diagnose, fullSpectrum);
  }

  /** The step's first part: the next chunk of the streams into input and target (the state reset when they wrap). */
  private nextChunk(): void {
    if (this.batcher.next(this.input, this.target)) this.resetState();
  }

  /** The step's second part: from the loss and gradient (in net.params.grad) of this chunk, clip, update and measure. */
  private applyGradient({ loss, saturation, flow }: ShardResult, diagnose: boolean, fullSpectrum: boolean): StepResult {
    const { net, config } = this;
    const T = config.seqLength;
    const B = config.batch;
    // Per-tensor norms, and the global norm from their squares: one pass over the gradient.
    const paramGradNorms: Record<string, number> = {};
    let sumSquares = 0;
    for (const t of net.params.tensors) {
      const n = l2(net.params.grad, t.offset, t.offset + t.size);
      paramGradNorms[t.name] = n;
      sumSquares += n * n;
    }
    const clip = clipGradients(net.params.grad, config.clipMode, config.clip, Math.sqrt(sumSquares));
    const nextStep = this.step + 1;
    if (!Number.isFinite(loss) || !Number.isFinite(clip.norm)) {
      throw new EngineError('diverged', `diverged at step ${nextStep} (loss ${loss}, gradient norm ${clip.norm})`, 'Lower the learning rate, turn on clipping, or lower hiddenScale; the parameters of the last good step were kept.');
    }
    const lr = this.lr;
    // The update keeps the old weights in lastGood and checks the new ones, in the same pass.
    if (!this.optimizer.step(net.params.data, net.params.grad, lr, this.lastGood)) {
      net.params.data.set(this.lastGood);
      throw new EngineError('diverged', `diverged at step ${nextStep} (the update made a parameter non-finite)`, 'Lower the learning rate or turn on clipping; the parameters of the last good step were kept.');
    }
    this.step = nextStep;
    if (clip.clipped) this.clipCount++;
    this.seen += T * B;
    // sigma_1 of every W_hh block every step: a few warm-started power iterations (~1% of a step).
    // diagEvery = 0 turns every diagnostic off, this one included.
    const spectrum = this.config.diagEvery > 0 ? this.spectrum.measure(diagnose && fullSpectrum) : [];
    const result: StepResult = { step: this.step, loss, clip, lr, spectrum, paramGradNorms };
    if (diagnose) {
      result.diagnostics = { type: 'diagnostics', step: this.step, spectrum, saturation, flow, paramGradNorms };
    }
    return result;
  }

  /**
   * The step's loss and gradient (into net.params.grad) over the whole batch on this thread, with
   * dropout masks from the run's generator. With `diagnose`, the saturation of this chunk and
   * ||dL_T / dh_{T-k}|| (and the LSTM's ||dL_T / dc_{T-k}||) for k = 0..T-1: one more backward
   * pass over the chunk just trained on, from the loss of the last time step only, with no
   * parameter gradients. It reuses the training step's forward activations (same weights, same
   * dropout masks: the flow of the step that was taken), so it costs a backward through the
   * recurrence and no forward.
   */
  private localGradient(diagnose: boolean): ShardResult {
    const { net, config } = this;
    const T = config.seqLength;
    const B = config.batch;
    net.params.zeroGrad();
    net.forward(this.input, T, B, this.state, this.rng);
    const saturation = diagnose ? gateSaturation(net) : [];
    const loss = net.head(this.target, { backward: true });
    net.backward();
    const flow = diagnose ? flowOf(net, this.target, B) : [];
    return { loss, saturation, flow };
  }

  /** Stops the gradient workers, if any (the trainer cannot step after). */
  close(): void {
    this.shards?.close();
  }

  /** A network that shares this trainer's parameters, for evaluation and sampling. */
  inferenceNetwork(): Network {
    if (!this.evalNet) {
      this.evalNet = new Network({ ...this.net.spec, dropout: 0 }, this.net.precision);
      // Its own parameter buffers are never used: it reads the trainer's.
      for (const a of [this.evalNet.params.data, this.evalNet.params.grad]) if (a instanceof Float32Array) releaseF32(a);
      this.evalNet.params.data = this.net.params.data;
    }
    return this.evalNet;
  }

  /**
   * Gate saturation measured on the validation split instead of the training batch (on demand):
   * the eval network runs forward over up to `maxPositions` of it and its activations are counted.
   */
  validationSaturation(maxPositions = 5000): SaturationEntry[] | undefined {
    const d = this.dataset;
    const width = d.kind === 'text' ? 1 : d.channels;
    const n = d.val.length / width;
    const T = Math.min(this.config.seqLength, n - 1);
    if (T < 1) return undefined;
    const B = Math.max(1, Math.min(Math.floor(n / (T + 1)), Math.floor(maxPositions / T)));
    const { batcher, input, target } = this.validationStreams(B, T);
    batcher.next(input, target);
    const net = this.inferenceNetwork();
    net.forward(input, T, B, net.newState(B));
    return gateSaturation(net);
  }

  private validationStreams(B: number, T: number) {
    const d = this.dataset;
    const width = d.kind === 'text' ? 1 : d.channels;
    const batcher = new StreamBatcher(d.val, width, B, T);
    const input = d.kind === 'text' ? new Int32Array(T * B) : new Float64Array(T * B * width);
    const target = d.kind === 'text' ? new Int32Array(T * B) : new Float64Array(T * B * width);
    return { batcher, input, target };
  }

  /** Mean loss over (at most `maxPositions` of) the validation split; undefined if it is too short. */
  evaluate(maxPositions = 20000): { loss: number; bpc?: number } | undefined {
    const d = this.dataset;
    const width = d.kind === 'text' ? 1 : d.channels;
    const n = d.val.length / width;
    const T = this.config.seqLength;
    let B = Math.min(this.config.batch, Math.floor(n / (T + 1)));
    if (B < 1) return undefined;
    const net = this.inferenceNetwork();
    const { batcher, input, target } = this.validationStreams(B, T);
    const state = net.newState(B);
    const chunks = Math.max(1, Math.min(Math.floor((batcher.segment - 1) / T), Math.floor(maxPositions / (T * B))));
    let total = 0;
    for (let i = 0; i < chunks; i++) {
      batcher.next(input, target);
      net.forward(input, T, B, state);
      total += net.head(target, { backward: false });
    }
    const loss = total / chunks;
    return d.kind === 'text' ? { loss, bpc: loss / Math.LN2 } : { loss };
  }
}

export function copyState(from: RecurrentState, to: RecurrentState): void {
  from.h.forEach((h, l) => to.h[l].set(h));
  from.c.forEach((c, l) => to.c[l].set(c));
}
