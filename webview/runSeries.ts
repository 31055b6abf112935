import type { DiagnosticsRecord, MetricsRecord, PanelRunInfo } from '../src/protocol';
import { lowerBound } from './decimate';

/**
 * One run's data as the webview holds it: columns of Float64Array (NaN = no value), bounded.
 * When a column set reaches `capacity` points it is halved in place, each pair of neighbours
 * becoming one point that keeps, alternately, the pair's min and max (so the envelope a chart
 * draws survives). 100,000 steps therefore cost at most `capacity` points per column.
 */
export class Columns {
  n = 0;
  /** How many original points one stored point stands for (doubles on each halving). */
  stride = 1;
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

  names(): string[] {
    return [...this.cols.keys()];
  }

  /** Appends one row; keys absent from `row` stay NaN. `x` columns (monotonic) keep the pair's first value on halving. */
  push(row: Record<string, number>): void {
    if (this.n === this.capacity) this.halve();
    const i = this.n++;
    for (const [k, v] of Object.entries(row)) this.col(k)[i] = v;
  }

  private halve(): void {
    const half = this.n >> 1;
    for (const [name, c] of this.cols) {
      const monotonic = name === 'step' || name === 'seen';
      for (let i = 0; i < half; i++) {
        const a = c[2 * i];
        const b = c[2 * i + 1];
        if (monotonic || !Number.isFinite(b)) c[i] = a;
        else if (!Number.isFinite(a)) c[i] = b;
        else c[i] = i % 2 === 0 ? Math.min(a, b) : Math.max(a, b);
      }
      c.fill(NaN, half);
    }
    this.n = half;
    this.stride *= 2;
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

  constructor(
    public info: PanelRunInfo,
    capacity = 32768,
  ) {
    this.metrics = new Columns(capacity);
    this.diag = new Columns(Math.min(capacity, 4096));
  }

  get lastStep(): number {
    return this.lastMetrics?.step ?? 0;
  }

  addMetrics(r: MetricsRecord): void {
    if (this.lastMetrics && r.step <= this.lastMetrics.step) return; // a replay overlapping live records
    const row: Record<string, number> = {
      step: r.step,
      seen: r.seen,
      loss: r.loss,
      gradNorm: r.gradNorm,
      gradNormClipped: r.gradNormClipped,
    };
    if (r.bpc !== undefined) row.bpc = r.bpc;
    if (r.valLoss !== undefined) row.valLoss = r.valLoss;
    if (r.valBpc !== undefined) row.valBpc = r.valBpc;
    for (const [k, v] of Object.entries(r.sigma1 ?? {})) {
      if (!this.sigmaKeys.includes(k)) this.sigmaKeys.push(k);
      row[`sigma:${k}`] = v;
    }
    this.metrics.push(row);
    this.metricsCount++;
    if (r.clipped) this.clippedSteps++;
    this.lastMetrics = r;
  }

  addDiagnostics(r: DiagnosticsRecord): void {
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
