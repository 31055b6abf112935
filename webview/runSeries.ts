import { isSeq2SeqTask, type DiagnosticsRecord, type MetricsRecord, type Seq2SeqEvalRecord } from '../src/protocol/config';
import type { PanelRunInfo } from '../src/protocol/panel';
import { lowerBound } from './decimate';

/**
 * Which of two neighbouring values one merged point keeps: the one farther from the point before
 * it (the largest-triangle idea of LTTB, Steinarsson 2013, with a flat base). A spike, up or down,
 * is always farther from its neighbour than the ordinary value it is paired with, so it survives.
 */
function pick(a: number, b: number, prev: number): number {
  if (!Number.isFinite(b)) return a;
  if (!Number.isFinite(a)) return b;
  if (!Number.isFinite(prev)) return a;
  return Math.abs(b - prev) > Math.abs(a - prev) ? b : a;
}

/**
 * One run's data as the webview holds it: columns of Float64Array (NaN = no value), bounded.
 * When the columns reach `capacity` points they are halved in place, each pair of neighbours
 * becoming one point (see pick: spikes survive); from then on `stride` arriving points are merged
 * into each stored point the same way. 100,000 steps therefore cost at most `capacity` points per column, evenly spread.
 */
export class Columns {
  n = 0;
  /** How many original points one stored point stands for (doubles on each halving). */
  stride = 1;
  /** How many original points the last stored point has absorbed so far. */
  private fill = 0;
  private merging = false;
  private cols = new Map<string, Float64Array>();

  constructor(readonly capacity: number) {}

  col(name: string): Float64Array {
    let c = this.cols.get(name);
    if (!c) {
      c = new Float64Array(this.capacity).fill(NaN);
      this.cols.set(name, c);
    }
    return c;
  }

  has(name: string): boolean {
    return this.cols.has(name);
  }

  /** Starts the next original point; returns the stored index its values go to (via set). */
  beginRow(): number {
    if (this.n > 0 && this.fill < this.stride) {
      this.fill++;
      this.merging = true;
      return this.n - 1;
    }
    if (this.n === this.capacity) this.halve();
    this.merging = false;
    this.fill = 1;
    return this.n++;
  }

  /** Writes a value of the current row; `monotonic` columns (step, seen) keep the first value of a merged point. */
  set(c: Float64Array, i: number, v: number, monotonic = false): void {
    if (!this.merging) {
      c[i] = v;
      return;
    }
    const old = c[i];
    if (monotonic && Number.isFinite(old)) return;
    c[i] = pick(old, v, i > 0 ? c[i - 1] : NaN);
  }

  /** Appends a row by column name (keys absent from `row` stay NaN). */
  push(row: Record<string, number>): void {
    const i = this.beginRow();
    for (const k in row) this.set(this.col(k), i, row[k], k === 'step' || k === 'seen');
  }

  private halve(): void {
    const half = this.n >> 1;
    for (const [name, c] of this.cols) {
      const monotonic = name === 'step' || name === 'seen';
      for (let i = 0; i < half; i++) {
        const a = c[2 * i];
        c[i] = monotonic ? a : pick(a, c[2 * i + 1], i > 0 ? c[i - 1] : NaN);
      }
      c.fill(NaN, half);
    }
    this.n = half;
    this.stride *= 2;
    this.fill = this.stride;
  }
}

/** Saturation fraction of a gate = left + right saturated (Karpathy et al. 2015). */
export const satKey = (layer: number, gate: string): string => `${layer}.${gate}`;

export class RunSeries {
  readonly metrics: Columns;
  /** One row per diagnostics record: step, seen, and the saturated fraction per layer.gate. */
  readonly diag: Columns;
  metricsCount = 0;
  diagnosticsCount = 0;
  lastMetrics: MetricsRecord | undefined;
  clippedSteps = 0;
  sigmaKeys: string[] = [];
  satKeys: string[] = [];
  /** 1/gamma per sigma key, from the spectrum entries (Pascanu et al. 2013). */
  reference = new Map<string, number>();
  latestSpectrum: DiagnosticsRecord | undefined;
  latestSaturation: DiagnosticsRecord | undefined;
  /** The first and the latest record with gradient flow, for the "earlier vs latest" contrast. */
  earliestFlow: DiagnosticsRecord | undefined;
  latestFlow: DiagnosticsRecord | undefined;
  /** Seq2seq: the latest diagnostics record with the encoder's gradient flow. */
  latestEncoderFlow: DiagnosticsRecord | undefined;
  /** Seq2seq: held-out evaluations in step order (at most maxEvals, evenly thinned past that; the latest always kept). */
  evals: Seq2SeqEvalRecord[] = [];
  evalsCount = 0;
  static readonly maxEvals = 256;

  constructor(
    public info: PanelRunInfo,
    capacity = 32768,
  ) {
    this.metrics = new Columns(capacity);
    this.diag = new Columns(Math.min(capacity, 4096));
    const col = (name: string): Float64Array => this.metrics.col(name);
    this.cols = { step: col('step'), seen: col('seen'), loss: col('loss'), bpc: col('bpc'), valLoss: col('valLoss'), valBpc: col('valBpc'), gradNorm: col('gradNorm'), gradNormClipped: col('gradNormClipped') };
  }

  get isSeq2Seq(): boolean {
    return isSeq2SeqTask(this.info.task);
  }

  addEval(r: Seq2SeqEvalRecord): void {
    const last = this.evals.at(-1);
    if (last && r.step <= last.step) return; // a replay overlapping live records
    this.evalsCount++;
    this.evals.push(r);
    if (this.evals.length > RunSeries.maxEvals) this.evals = this.evals.filter((_, i, a) => i % 2 === 0 || i === a.length - 1);
  }

  get lastStep(): number {
    return this.lastMetrics?.step ?? 0;
  }

  private readonly cols: Record<'step' | 'seen' | 'loss' | 'bpc' | 'valLoss' | 'valBpc' | 'gradNorm' | 'gradNormClipped', Float64Array>;
  private readonly sigmaCols = new Map<string, Float64Array>();
  /** The metrics columns that have had a value (bpc only for text, validation only when evaluated). */
  readonly present = new Set<string>(['loss']);

  addMetrics(r: MetricsRecord): void {
    if (this.lastMetrics && r.step <= this.lastMetrics.step) return; // a replay overlapping live records
    const m = this.metrics;
    const c = this.cols;
    const i = m.beginRow();
    m.set(c.step, i, r.step, true);
    m.set(c.seen, i, r.seen, true);
    m.set(c.loss, i, r.loss);
    m.set(c.gradNorm, i, r.gradNorm);
    m.set(c.gradNormClipped, i, r.gradNormClipped);
    if (r.bpc !== undefined) m.set(c.bpc, i, r.bpc);
    if (r.valLoss !== undefined) m.set(c.valLoss, i, r.valLoss);
    if (r.valBpc !== undefined) m.set(c.valBpc, i, r.valBpc);
    if (this.present.size < 4) for (const k of ['bpc', 'valLoss', 'valBpc'] as const) if (r[k] !== undefined) this.present.add(k);
    for (const k in r.sigma1) {
      let col = this.sigmaCols.get(k);
      if (!col) {
        this.sigmaKeys.push(k);
        col = m.col(`sigma:${k}`);
        this.sigmaCols.set(k, col);
      }
      m.set(col, i, r.sigma1[k]);
    }
    this.metricsCount++;
    if (r.clipped) this.clippedSteps++;
    this.lastMetrics = r;
  }

  private lastDiagStep = -Infinity;

  addDiagnostics(r: DiagnosticsRecord): void {
    if (r.step <= this.lastDiagStep) return; // a replay overlapping live records
    this.lastDiagStep = r.step;
    this.diagnosticsCount++;
    // Characters seen at this step, from the metrics (a replay sends all metrics before the diagnostics).
    const m = this.metrics;
    const i = Math.min(m.n - 1, lowerBound(m.col('step'), m.n, r.step));
    const row: Record<string, number> = { step: r.step, seen: i >= 0 ? m.col('seen')[i] : NaN };
    for (const s of r.saturation ?? []) {
      const key = satKey(s.layer, s.gate);
      if (!this.satKeys.includes(key)) this.satKeys.push(key);
      row[`sat:${key}`] = s.left + s.right;
    }
    this.diag.push(row);
    for (const s of r.spectrum ?? []) this.reference.set(`${s.layer}.${s.block}`, s.reference);
    if (r.spectrum?.some((s) => s.singularValues?.length)) this.latestSpectrum = r;
    if (r.saturation?.length) this.latestSaturation = r;
    if (r.encoderFlow) this.latestEncoderFlow = r;
    if (r.flow?.length) {
      this.earliestFlow ??= r;
      this.latestFlow = r;
    }
  }

  /** Fraction of steps on which clipping fired: the latest record's running value (exact even after decimation). */
  get clipFraction(): number {
    return this.lastMetrics?.clipFraction ?? 0;
  }
}
