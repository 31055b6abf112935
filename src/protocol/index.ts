/**
 * The one protocol module: the run config, the records a training run emits, and the messages
 * between extension <-> worker <-> webview. Plain JSON-able objects keyed by `type`, imported by
 * every side. Records are written to disk as JSON lines exactly as they travel.
 */

export type CellKind = 'rnn' | 'lstm' | 'gru';
export type GruVariant = 'reset_after' | 'reset_before';
export type OptimizerKind = 'sgd' | 'adam' | 'rmsprop' | 'adagrad';
export type ClipMode = 'norm' | 'value' | 'none';
export type HiddenInit = 'orthogonal' | 'identity' | 'gaussian';
export type TaskKind = 'charlm' | 'forecast';

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
}

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
}

export type RunStatus = 'running' | 'finished' | 'stopped' | 'diverged' | 'failed';

export interface RunSummary {
  status: RunStatus;
  message?: string;
  step: number;
  loss?: number;
  bpc?: number;
  valLoss?: number;
  valBpc?: number;
}

/** Messages to a training worker. */
/** A saved run to continue: its checkpoint and resume.safetensors bytes; `where` names them in errors. */
export interface ResumeFrom {
  checkpoint: Uint8Array;
  state: Uint8Array;
  where: string;
}

export type ToWorker =
  /**
   * `resume`: continue a saved run from its checkpoint and resume.safetensors (exact: same losses
   * as an uninterrupted run). `keepResumable`: send that state with every checkpoint.
   */
  | { type: 'start'; runId: string; config: RunConfig; dataText: string; resume?: ResumeFrom; keepResumable?: boolean }
  | { type: 'stop'; runId: string };

/** Messages from a training worker. */
export type FromWorker =
  | { type: 'started'; runId: string; vocab?: string[]; paramCount: number }
  | { type: 'metrics'; runId: string; record: MetricsRecord }
  | { type: 'diagnostics'; runId: string; record: DiagnosticsRecord }
  /** `resumeState`: resume.safetensors for the same step, when the run was started with keepResumable. */
  | { type: 'checkpoint'; runId: string; step: number; bytes: Uint8Array; resumeState?: Uint8Array }
  | { type: 'log'; runId: string; message: string }
  | { type: 'done'; runId: string; summary: RunSummary };

/**
 * Messages to the inspect worker (run on selection: src/extension/selection.ts). A request carries
 * the checkpoint bytes only when the worker does not hold that model yet (`modelKey`).
 */
export type ToInspectWorker =
  | { type: 'inspectText'; id: number; modelKey: string; checkpoint?: Uint8Array; text: string; context: string }
  | { type: 'inspectSeries'; id: number; modelKey: string; checkpoint?: Uint8Array; lines: string[]; header: string[] | null }
  | { type: 'influence'; id: number; modelKey: string; checkpoint?: Uint8Array; tokens: Int32Array; steps: Int32Array; target: number }
  | { type: 'sample'; id: number; modelKey: string; checkpoint?: Uint8Array; prime: string; length: number; temperature: number; topK: number; seed: number };

/** Replies of the inspect worker, one per request, with the request's id. */
export type FromInspectWorker =
  | { type: 'inspected'; id: number; result: import('../engine/inspect').TextInspection | import('../engine/inspect').SeriesInspection; milliseconds: number }
  | { type: 'influence'; id: number; values: Float64Array; milliseconds: number }
  | { type: 'sampled'; id: number; text: string; milliseconds: number }
  | { type: 'error'; id: number; message: string; needModel?: boolean };
// ---- Panels: extension <-> webview (the side panel "Diagnostics" and the run report) ----

/** What a panel needs to know about a run to label and draw it. */
export interface PanelRunInfo {
  id: string;
  name: string;
  status: RunStatus;
  cell?: CellKind;
  layers?: number;
  hidden?: number;
  clipMode?: ClipMode;
  /** Clipping threshold t (drawn as a line on the gradient-norm chart). */
  clip?: number;
  task?: TaskKind;
}

/** Identifies the charts a panel draws; also the names of exported files. */
export const PANEL_CHARTS = ['loss', 'gradNorm', 'sigma1', 'spectrum', 'saturation', 'scatter', 'flow'] as const;
export type PanelChartId = (typeof PANEL_CHARTS)[number];

/** Messages the extension posts to a panel webview (after the panel said 'ready'). */
export type ToPanel =
  /** The runs the picker offers and the ones shown now (side panel: one; report: one or more to overlay). */
  | { type: 'runs'; runs: PanelRunInfo[]; shown: string[] }
  /** A run's buffered records (bounded and decimated by the extension), replacing what the panel had for it. */
  | { type: 'runData'; run: PanelRunInfo; metrics: MetricsRecord[]; diagnostics: DiagnosticsRecord[]; decimatedFrom?: number }
  /** Live records, batched by the extension (one message per ~100 ms instead of one per step). */
  | { type: 'records'; runId: string; metrics: MetricsRecord[]; diagnostics: DiagnosticsRecord[] }
  /** One live record. */
  | { type: 'metrics'; runId: string; record: MetricsRecord }
  | { type: 'diagnostics'; runId: string; record: DiagnosticsRecord }
  | { type: 'exported'; chart: string; format: PanelExportFormat; path?: string; error?: string };

export type PanelExportFormat = 'png' | 'svg' | 'csv';

/** Messages a panel webview posts to the extension. Untrusted: validated field by field before use. */
export type FromPanel =
  | { type: 'ready' }
  /** How many records arrived (kept for older tests and logs). */
  | { type: 'received'; metrics: number; diagnostics: number; lastStep: number }
  /** What the panel drew: points (or marks) per chart, for the latest step it holds. */
  | { type: 'drew'; runIds: string[]; lastStep: number; charts: Partial<Record<PanelChartId, number>> }
  /** The run(s) the user picked (side panel: one; report: the overlay). */
  | { type: 'show'; runIds: string[] }
  /** A chart exported by the user: PNG as a data: URL, SVG and CSV as text. */
  | { type: 'export'; chart: PanelChartId; format: PanelExportFormat; data: string };

/**
 * A run's JSONL files may come in chunks: `metrics.jsonl`, then `metrics.2.jsonl`, `metrics.3.jsonl`,
 * ... (the extension seals a chunk at a few MB, because workspace.fs can only rewrite a file
 * whole). Readers concatenate the chunks in order and stop at the first one missing; the CLI
 * appends to one file and writes no chunks.
 */
export function jsonlChunkName(file: string, index: number): string {
  return index === 0 ? file : file.replace(/\.jsonl$/, `.${index + 1}.jsonl`);
}

export interface ParsedJsonl<T> {
  records: T[];
  /** The last line had no newline and did not parse: a write cut short (e.g. the window closed mid-flush). */
  tornLastLine: boolean;
  /** 1-based numbers of other lines that did not parse (skipped). */
  badLines: number[];
}

/**
 * JSON Lines, tolerant of a torn tail: every complete line that parses is a record; an unparsable
 * final line without its newline is a write cut short and is dropped, not an error.
 */
export function parseJsonl<T>(text: string): ParsedJsonl<T> {
  const lines = text.split('\n');
  const endsWithNewline = text.endsWith('\n');
  const records: T[] = [];
  const badLines: number[] = [];
  let tornLastLine = false;
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    try {
      records.push(JSON.parse(line) as T);
    } catch {
      if (i === lines.length - 1 && !endsWithNewline) tornLastLine = true;
      else badLines.push(i + 1);
    }
  });
  return { records, tornLastLine, badLines };
}
