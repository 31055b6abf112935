/**
 * Checks for messages from the panels' webviews, and the bounded per-run record buffer the
 * extension replays to them. No vscode import: the unit tests run these in plain Node.
 */
import { runIdProblem } from './webviewMessages';
import type { DiagnosticsRecord, MetricsRecord, Seq2SeqEvalRecord } from '../protocol/config';
import { PANEL_CHARTS, type FromPanel, type PanelChartId } from '../protocol/panel';
import { jsonlChunkName, parseJsonl } from '../protocol/jsonl';

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;
/** Run ids are folder names the run store made: no path separators, no leading dot. */
export const isRunId = (v: unknown): v is string => runIdProblem(v) === undefined;

/** Largest export a webview may hand over (a PNG of a full-width chart is ~100 KB; CSV of 100,000 steps ~10 MB). */
export const MAX_EXPORT_CHARS = 64 * 1024 * 1024;

/** Messages from a webview are untrusted: every field is checked before use. Returns a reason when invalid. */
export function checkFromPanel(msg: unknown): { ok: true; msg: FromPanel } | { ok: false; reason: string } {
  if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) return { ok: false, reason: 'not an object' };
  const m = msg as Record<string, unknown>;
  switch (m.type) {
    case 'ready':
      return { ok: true, msg: { type: 'ready' } };
    case 'received':
      if (!isCount(m.metrics) || !isCount(m.diagnostics) || !isCount(m.lastStep) || (m.evals !== undefined && !isCount(m.evals))) return { ok: false, reason: 'received: counts must be whole numbers >= 0' };
      return { ok: true, msg: { type: 'received', metrics: m.metrics, diagnostics: m.diagnostics, lastStep: m.lastStep, ...(m.evals !== undefined ? { evals: m.evals as number } : {}) } };
    case 'drew': {
      if (!Array.isArray(m.runIds) || m.runIds.length > 32 || !m.runIds.every(isRunId)) return { ok: false, reason: 'drew: bad runIds' };
      if (!isCount(m.lastStep)) return { ok: false, reason: 'drew: bad lastStep' };
      if (typeof m.charts !== 'object' || m.charts === null || Array.isArray(m.charts)) return { ok: false, reason: 'drew: charts must be an object' };
      const charts: Record<string, number> = {};
      for (const [k, v] of Object.entries(m.charts)) {
        if (!(PANEL_CHARTS as readonly string[]).includes(k) || !isCount(v)) return { ok: false, reason: `drew: bad chart entry ${k}` };
        charts[k] = v;
      }
      return { ok: true, msg: { type: 'drew', runIds: [...m.runIds], lastStep: m.lastStep, charts } };
    }
    case 'show':
      if (!Array.isArray(m.runIds) || m.runIds.length === 0 || m.runIds.length > 16 || !m.runIds.every(isRunId)) return { ok: false, reason: 'show: runIds must be 1 to 16 run ids' };
      return { ok: true, msg: { type: 'show', runIds: [...new Set(m.runIds as string[])] } };
    case 'export': {
      if (typeof m.chart !== 'string' || !(PANEL_CHARTS as readonly string[]).includes(m.chart)) return { ok: false, reason: 'export: unknown chart' };
      if (m.format !== 'png' && m.format !== 'svg' && m.format !== 'csv') return { ok: false, reason: 'export: format must be png, svg or csv' };
      if (typeof m.data !== 'string' || m.data.length === 0 || m.data.length > MAX_EXPORT_CHARS) return { ok: false, reason: 'export: data must be a non-empty string under the size limit' };
      if (m.format === 'png' && !/^data:image\/png;base64,[A-Za-z0-9+/]+=*$/.test(m.data)) return { ok: false, reason: 'export: png data must be a base64 data: URL' };
      if (m.format === 'svg' && !/^<svg[\s>]/.test(m.data)) return { ok: false, reason: 'export: svg data must start with <svg' };
      if (m.request !== undefined && !isCount(m.request)) return { ok: false, reason: 'export: request must be a whole number' };
      return { ok: true, msg: { type: 'export', chart: m.chart as PanelChartId, format: m.format, data: m.data, ...(m.request !== undefined ? { request: m.request as number } : {}) } };
    }
    case 'exportFailed':
      if (!isCount(m.request) || typeof m.reason !== 'string' || m.reason.length > 500) return { ok: false, reason: 'exportFailed: request must be a whole number and reason a short string' };
      return { ok: true, msg: { type: 'exportFailed', request: m.request, reason: m.reason } };
    default:
      return { ok: false, reason: `unknown message type ${JSON.stringify(m.type)?.slice(0, 40)}` };
  }
}

/** The bytes to write for an export (PNG decoded from base64; SVG and CSV as UTF-8). */
export function exportBytes(format: 'png' | 'svg' | 'csv', data: string): Uint8Array {
  if (format !== 'png') return new TextEncoder().encode(data);
  const bin = atob(data.slice(data.indexOf(',') + 1));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/**
 * A run's records, bounded. Past `max` entries every other stored record is dropped and from then
 * on only one in `stride` arriving records is kept (stride doubles each time), so a 100,000-step
 * run costs at most `max` records here while still spanning the whole run. The first record, the
 * latest one and the latest diagnostics record carrying a full spectrum are always kept.
 */
export class RecordBuffer<R extends { step: number }> {
  private kept: R[] = [];
  private stride = 1;
  private arrived = 0;
  private latest: R | undefined;
  private pinned: R | undefined;

  constructor(
    readonly max: number,
    /** Records to keep even when thinned (e.g. the latest one with a full spectrum). */
    private readonly pin?: (r: R) => boolean,
  ) {}

  add(r: R): void {
    this.latest = r;
    if (this.pin?.(r)) this.pinned = r;
    if (this.arrived++ % this.stride !== 0) return;
    this.kept.push(r);
    if (this.kept.length > this.max) {
      this.kept = this.kept.filter((_, i) => i % 2 === 0);
      this.stride *= 2;
    }
  }

  /** How many records arrived; the snapshot has fewer when thinned. */
  get count(): number {
    return this.arrived;
  }

  get thinnedBy(): number {
    return this.stride;
  }

  snapshot(): R[] {
    const out = [...this.kept];
    for (const extra of [this.pinned, this.latest]) if (extra && !out.includes(extra)) out.push(extra);
    return out.sort((a, b) => a.step - b.step);
  }
}

export class RunBuffer {
  readonly metrics: RecordBuffer<MetricsRecord>;
  readonly diagnostics: RecordBuffer<DiagnosticsRecord>;
  /** Seq2seq held-out evaluations (the heatmap's scrubber steps through them). */
  readonly evals: RecordBuffer<Seq2SeqEvalRecord>;

  constructor(maxMetrics = 4096, maxDiagnostics = 64, maxEvals = 128) {
    this.evals = new RecordBuffer<Seq2SeqEvalRecord>(maxEvals);
    this.metrics = new RecordBuffer<MetricsRecord>(maxMetrics);
    this.diagnostics = new RecordBuffer<DiagnosticsRecord>(maxDiagnostics, (r) => r.spectrum?.some((s) => (s.singularValues?.length ?? 0) > 0) ?? false);
  }
}

/** The records of `type` in JSON lines (parseJsonl), skipping blank and unreadable lines (a run cut off mid-write leaves half a line). */
export function parseJsonLines<T>(text: string, type: string): T[] {
  return parseJsonl<{ type?: unknown } | null>(text).records.filter((r) => r !== null && typeof r === 'object' && r.type === type) as T[];
}

/**
 * The records of `type` in a run's JSONL file and its chunks (jsonlChunkName), read in order and
 * parsed `linesPerSlice` lines at a time with a pause between slices (by default a turn of the
 * event loop): a run of 100k steps is ~90 MB, and parsing it in one go held the extension host
 * for seconds. A chunk's torn last line is dropped, as parseJsonLines drops any bad line.
 */
export async function forEachJsonlRecord<T>(
  read: (name: string) => Promise<string | undefined>,
  file: string,
  type: string,
  add: (record: T) => void,
  linesPerSlice = 2000,
  pause: () => Promise<void> = () => new Promise((resolve) => setTimeout(resolve, 0)),
): Promise<void> {
  const perSlice = Math.max(1, Math.floor(linesPerSlice));
  for (let i = 0; ; i++) {
    const text = await read(jsonlChunkName(file, i));
    if (text === undefined) return;
    let start = 0;
    while (start < text.length) {
      let end = start;
      for (let n = 0; n < perSlice; n++) {
        const newline = text.indexOf('\n', end);
        if (newline === -1) {
          end = text.length;
          break;
        }
        end = newline + 1;
      }
      for (const r of parseJsonLines<T>(text.slice(start, end), type)) add(r);
      start = end;
      if (start < text.length) await pause();
    }
  }
}

/**
 * The page both panels load: CSP `default-src 'none'`, the one script by nonce, styles and fonts
 * only from the webview's own resource origin (no 'unsafe-inline', no 'unsafe-eval'). uPlot and
 * our charts set element styles through the CSSOM, which a CSP does not restrict.
 */
export function panelPageHtml(o: { cspSource: string; nonce: string; asset: (file: string) => string; mode: 'side' | 'report' }): string {
  const csp = [`default-src 'none'`, `style-src ${o.cspSource}`, `font-src ${o.cspSource}`, `script-src 'nonce-${o.nonce}'`].join('; ');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${o.asset('panel.css')}">
<link rel="stylesheet" id="vscode-codicon-stylesheet" href="${o.asset('codicon.css')}">
<title>RNN Lab</title>
</head>
<body data-mode="${o.mode}">
<div id="app"></div>
<script nonce="${o.nonce}" src="${o.asset('main.js')}"></script>
</body>
</html>`;
}
