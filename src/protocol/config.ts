/**
 * The run config and the records a training run emits: what `*.rnn.json` files hold, what the
 * CLI flags fill, what a run folder stores (records as JSON lines exactly as they travel).
 * Plain JSON-able objects, imported by every side; the protocol imports nothing from the engine.
 */

export type CellKind = 'rnn' | 'lstm' | 'gru';
export type GruVariant = 'reset_after' | 'reset_before';
export type OptimizerKind = 'sgd' | 'adam' | 'rmsprop' | 'adagrad';
export type ClipMode = 'norm' | 'value' | 'none';
export type HiddenInit = 'orthogonal' | 'identity' | 'gaussian';
/** Sequence to sequence: `seq2seq` trains on the user's pairs file, the others on a generated task. */
export type Seq2SeqTaskKind = 'seq2seq' | 'reverse' | 'copy' | 'sort' | 'date' | 'addition';
export const SEQ2SEQ_TASKS: readonly Seq2SeqTaskKind[] = ['seq2seq', 'reverse', 'copy', 'sort', 'date', 'addition'];
export type TaskKind = 'charlm' | 'forecast' | Seq2SeqTaskKind;
export type AttentionKind = 'none' | 'dot' | 'general' | 'additive';

export function isSeq2SeqTask(task: unknown): task is Seq2SeqTaskKind {
  return (SEQ2SEQ_TASKS as readonly unknown[]).includes(task);
}

/** Whether a run reads a data file: every kind but the generated seq2seq tasks, which make their examples from the seed. */
export function usesDataFile(config: Pick<RunConfig, 'task'>): boolean {
  return !isSeq2SeqTask(config.task) || config.task === 'seq2seq';
}

/** A run config: what `*.rnn.json` files hold, what the CLI flags fill, what a worker is started with. */
export interface RunConfig {
  name: string;
  task: TaskKind;
  /** Path of the data file (workspace-relative in the extension, as given on the CLI). */
  data: string;
  /** Forecasting: the CSV column(s) to model, by header name or 0-based index. */
  columns?: (string | number)[];
  cell: CellKind;
  gruVariant: GruVariant;
  rnnActivation: 'tanh' | 'relu';
  layers: number;
  hidden: number;
  /** Character LM input: one-hot (0) or a learned embedding of this size. */
  embedding: number;
  dropout: number;
  /** Truncated BPTT chunk length k (the sequence length of one step). */
  seqLength: number;
  /** B parallel streams through the data, as char-rnn does. */
  batch: number;
  steps: number;
  lr: number;
  lrDecay: number;
  lrDecayEvery: number;
  optimizer: OptimizerKind;
  momentum: number;
  clipMode: ClipMode;
  clip: number;
  hiddenInit: HiddenInit;
  /** For hiddenInit 'gaussian': W_hh is rescaled so its largest singular value is this. */
  hiddenScale: number;
  forgetBias: number;
  seed: number;
  valFraction: number;
  /** Evaluate on the validation split every this many steps (0: only at the end). */
  evalEvery: number;
  /** Diagnostics every this many steps (0: none). */
  diagEvery: number;
  /** Full SVD of each W_hh block every this many steps (0: none). */
  spectrumEvery: number;
  /** Refuse data files larger than this. */
  maxFileBytes: number;
  /** Also write a checkpoint generation every this many steps (0: none by steps). */
  checkpointEvery: number;
  /** Write a checkpoint generation every this many seconds of training (0: none by time); also at the end however the run ends. */
  checkpointSeconds: number;
  /** Seq2seq: the attention of the decoder ('none': the encoder's final state is all it gets). */
  attention: AttentionKind;
  /** Seq2seq, additive attention: the size A of W_q, W_k and v (0: the hidden size). */
  attentionSize: number;
  /** Seq2seq, generated tasks: source lengths "lo-hi" (addition: digits per operand). */
  srcLen: string;
  /** Seq2seq, generated tasks: 'digits', 'letters', or the alphabet's characters. */
  alphabet: string;
  /** Seq2seq: probability of feeding the true previous token; below 1, scheduled sampling feeds the model's own greedy token otherwise. */
  teacherForcing: number;
  /** Seq2seq, pairs files: 'char' or 'word' tokens. */
  tokenization: 'char' | 'word';
  /** Seq2seq: held-out examples (generated tasks; pairs files hold out a tenth of their sources). */
  heldOut: number;
  /** Seq2seq: the attention maps of this many pinned held-out examples go into every evaluation record. */
  pinned: number;
  /**
   * float32 (the default, as in PyTorch): the WebAssembly SIMD kernels where the host has them,
   * else the float64 engine. float64: the exact reference path, always. Language models and
   * seq2seq tasks alike.
   */
  precision: Precision;
  /**
   * Workers the batch is split over (data parallelism, gradients summed in a fixed order): 0 is
   * the host's cores minus one, at least one; capped at the batch. Seq2seq tasks train on one.
   */
  workers: number;
}

export type Precision = 'float32' | 'float64';
/** Which engine a run trains on: the float32 WebAssembly SIMD kernels or the float64 JavaScript ones. */
export type EnginePath = 'wasm-simd-f32' | 'js-f64';

export interface MetricsRecord {
  type: 'metrics';
  step: number;
  /** Mean training loss of this step's chunk (cross-entropy in nats, or MSE). */
  loss: number;
  /** Bits per character (charlm only): loss / ln 2. */
  bpc?: number;
  /** Global L2 norm of the gradient before clipping. */
  gradNorm: number;
  /** Global L2 norm of the gradient after clipping (equal to gradNorm when clipping did not fire). */
  gradNormClipped: number;
  clipped: boolean;
  /** Fraction of steps so far on which clipping fired. */
  clipFraction: number;
  lr: number;
  /** Input symbols (or time points) consumed so far. */
  seen: number;
  charsPerSec: number;
  elapsedMs: number;
  valLoss?: number;
  valBpc?: number;
  /** Largest singular value of each W_hh block, keyed "layer.block" (e.g. "0.hh", "1.f", "0.all"). */
  sigma1: Record<string, number>;
  /** L2 norm of each parameter tensor's gradient before clipping, by PyTorch name. */
  paramGradNorms: Record<string, number>;
  /** Seq2seq: exp(loss), the teacher-forced per-token perplexity. */
  perplexity?: number;
}

/** Seq2seq: one pinned held-out example's attention, as greedy decoding produced it. */
export interface AttentionMap {
  /** Index of the example in the held-out set. */
  index: number;
  source: string[];
  reference: string[];
  /** The greedy output, EOS shown as "</s>" when it was emitted. */
  output: string[];
  /** weights[t][s]: attention of output step t on source token s (rows sum to 1). */
  weights: number[][];
  /** Generated tasks: alignment[t] = the source positions reference token t is known to align to. */
  alignment?: number[][];
}

/** Seq2seq: greedy decoding of the held-out set every evalEvery steps. */
export interface Seq2SeqEvalRecord {
  type: 'seq2seqEval';
  step: number;
  examples: number;
  /** Share of outputs equal to the reference (the headline). */
  exactMatch: number;
  /** Share of reference positions (EOS included) the output has right. */
  tokenAccuracy: number;
  /** Pairs files: corpus BLEU-4 in [0, 1] and its recipe. */
  bleu?: number;
  bleuRecipe?: string;
  /** By source length (Bahdanau et al. 2015, figure 2). */
  byLength: { lo: number; hi: number; count: number; exactMatch: number; tokenAccuracy: number }[];
  /** Generated tasks: share of target positions whose attention argmax is a known aligned source position. */
  alignmentAccuracy?: number;
  attention: AttentionMap[];
}

/**
 * Seq2seq: ||dL/de_s|| per source position s (norm over the batch's rows), split by linearity into
 * what arrives through the attention context and what arrives through the encoder's final state.
 */
export interface EncoderFlowEntry {
  attention: number[];
  finalState: number[];
  total: number[];
}

export interface SpectrumEntry {
  layer: number;
  /** 'hh' for a vanilla RNN; a gate name (i, f, g, o / r, z, n) or 'all' for the stacked matrix. */
  block: string;
  sigma1: number;
  /** Full sorted spectrum, when computed this step. */
  singularValues?: number[];
  /** Pascanu et al. 2013 reference 1/gamma: 1 for tanh, 4 for sigmoid. */
  reference: number;
}

export interface SaturationEntry {
  layer: number;
  gate: string;
  /** Mean over units of the fraction of time steps left- and right-saturated. */
  left: number;
  right: number;
  /** Per unit pairs for the Karpathy et al. 2015 scatter. */
  unitLeft: number[];
  unitRight: number[];
}

export interface FlowEntry {
  layer: number;
  /**
   * ||dL_T / dh_{T-k}|| for k = 0..T-1: L_T is the mean loss of the chunk's last step over the
   * batch, through the training step's own forward pass (its weights before the update, and its
   * dropout masks).
   */
  h: number[];
  /** ||dL_T / dc_{T-k}|| (LSTM only). */
  c?: number[];
}

export interface DiagnosticsRecord {
  type: 'diagnostics';
  step: number;
  spectrum: SpectrumEntry[];
  saturation: SaturationEntry[];
  flow: FlowEntry[];
  /** L2 norm of each parameter tensor's gradient (before clipping), by PyTorch name. */
  paramGradNorms: Record<string, number>;
  /** Seq2seq: the gradient flow through the encoder. */
  encoderFlow?: EncoderFlowEntry;
}

export type RunStatus = 'running' | 'finished' | 'stopped' | 'diverged' | 'failed';

export interface RunSummary {
  status: RunStatus;
  message?: string;
  step: number;
  /** The step of the run's last checkpoint generation on disk; absent when it has none (interrupted before its first). */
  checkpointStep?: number;
  loss?: number;
  bpc?: number;
  valLoss?: number;
  valBpc?: number;
  /** Seq2seq: held-out greedy exact match and token accuracy of the last evaluation. */
  exactMatch?: number;
  tokenAccuracy?: number;
  /** The engine the run trained on. */
  path?: EnginePath;
  /** How many workers shared each step's batch, how they shared memory, and why one when more were asked for. */
  workers?: number;
  transport?: WorkerTransport;
  workersNote?: string;
}

/** A value a sweep gives a run config field (every field a sweep may vary is a number or a string). */
export type SweepValue = string | number;

/**
 * A run that is part of a sweep (a grid of runs from one config with a `"sweep"` field): written as
 * sweep.json in its run folder, beside the ordinary config.json the run trains from.
 */
export interface SweepMember {
  /** The sweep's id: the time it started and its config's name, as a run id is made. */
  id: string;
  /** The sweep config's name. */
  name: string;
  /** This run's place in the grid (0-based) and the grid's size. */
  index: number;
  total: number;
  /** The fields the sweep varies, in the sweep's order, with this run's values. */
  values: Record<string, SweepValue>;
  /**
   * The sweep config its grid was made from (settings filled in, "data" as its runs read it), kept
   * so Continue Sweep can make the same grid again after the window that queued it has gone.
   */
  source?: Record<string, unknown>;
}

/** One run of a sweep in the report's table and the CLI's: its values against its final metrics. */
export interface SweepTableRow {
  runId: string;
  /** Place in the grid (0-based). */
  index: number;
  values: Record<string, SweepValue>;
  status: RunStatus;
  /** Training loss of the last step. */
  finalLoss?: number;
  /** Lowest validation loss and bpc over the run's evaluations. */
  bestValLoss?: number;
  bestValBpc?: number;
  /** Seq2seq: held-out greedy exact match of the last evaluation. */
  exactMatch?: number;
  steps: number;
  /** Training time of the last step, in seconds. */
  seconds?: number;
}
/**
 * How a run's gradient workers share parameters and gradients with its coordinator: a
 * SharedArrayBuffer where the host has one, messages (transferred arrays) where it has not.
 */
export type WorkerTransport = 'shared-memory' | 'message';
