/**
 * The panels' UI, one bundle for both places: the "Diagnostics" side view (body data-mode="side":
 * one run, compact) and the run report in the editor area (data-mode="report": full size, several
 * runs overlaid). It only draws what the extension sends: the webview asks, it never computes.
 */
import '@vscode-elements/elements/dist/vscode-collapsible/index.js';
import '@vscode-elements/elements/dist/vscode-single-select/index.js';
import '@vscode-elements/elements/dist/vscode-multi-select/index.js';
import '@vscode-elements/elements/dist/vscode-option/index.js';
import '@vscode-elements/elements/dist/vscode-checkbox/index.js';
import '@vscode-elements/elements/dist/vscode-icon/index.js';
import type { FromPanel, PanelChartId, PanelExportFormat, PanelRunInfo, ToPanel } from '../src/protocol/panel';
import { CanvasChart, FlowChart, ScatterChart, SpectrumChart } from './canvasCharts';
import { ema } from './decimate';
import { LineChart, type LineChartSpec, type LineSeries, type Threshold } from './lineChart';
import { RunSeries } from './runSeries';
import { ByLengthChart, EncoderFlowChart, HeatmapChart } from './seq2seqCharts';
import { attachSweepTable } from './sweepTable';
import { readTheme, watchTheme, type Theme } from './theme';

interface VsCodeApi {
  postMessage(msg: FromPanel): void;
  getState(): unknown;
  setState(state: PanelState): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

/** What the webview keeps across reloads (vscode.setState; the report's serializer reads it too). */
export interface PanelState {
  shown: string[];
  xAxis: 'step' | 'seen';
  smoothing: number;
  logY: boolean;
  closed: string[];
  /** A sweep's report: the sweep's id, so a restored report gets its table again. */
  sweep?: string;
}

const vscode = acquireVsCodeApi();
const mode = document.body.dataset.mode === 'report' ? 'report' : 'side';
const saved = (vscode.getState() ?? {}) as Partial<PanelState>;
const state: PanelState = {
  shown: Array.isArray(saved.shown) ? saved.shown.filter((s) => typeof s === 'string') : [],
  xAxis: saved.xAxis === 'seen' ? 'seen' : 'step',
  smoothing: typeof saved.smoothing === 'number' && saved.smoothing >= 0 && saved.smoothing < 1 ? saved.smoothing : 0.6,
  logY: saved.logY !== false,
  closed: Array.isArray(saved.closed) ? saved.closed.filter((s) => typeof s === 'string') : [],
  ...(typeof saved.sweep === 'string' ? { sweep: saved.sweep } : {}),
};

let theme: Theme = readTheme();
let runList: PanelRunInfo[] = [];
const runs = new Map<string, RunSeries>();
let received = { metrics: 0, diagnostics: 0, lastStep: 0, evals: 0 };

const el = <K extends keyof HTMLElementTagNameMap>(tag: K, cls?: string, text?: string): HTMLElementTagNameMap[K] => {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
};

// ---- layout ----
const app = document.getElementById('app')!;
const toolbar = el('div', 'toolbar');
const status = el('div', 'status');
const message = el('div', 'message');
const sections = el('div', 'sections');
app.append(toolbar, status, message, sections);
if (mode === 'report') {
  attachSweepTable(sections, (sweepId) => {
    if (state.sweep === sweepId) return;
    state.sweep = sweepId;
    saveState();
  });
}

const picker = document.createElement(mode === 'report' ? 'vscode-multi-select' : 'vscode-single-select') as HTMLElement & { value: string | string[] };
picker.className = 'run-picker';
picker.setAttribute('aria-label', mode === 'report' ? 'Runs to overlay' : 'Run');
const xSelect = document.createElement('vscode-single-select') as HTMLElement & { value: string };
xSelect.setAttribute('aria-label', 'x axis');
for (const [value, label] of [
  ['step', 'x: step'],
  ['seen', 'x: characters seen'],
]) {
  const o = document.createElement('vscode-option');
  o.setAttribute('value', value);
  o.textContent = label;
  if (value === state.xAxis) o.setAttribute('selected', '');
  xSelect.append(o);
}
const smoothWrap = el('label', 'smoothing');
const smoothLabel = el('span', undefined, '');
const smooth = el('input');
smooth.type = 'range';
smooth.min = '0';
smooth.max = '0.99';
smooth.step = '0.01';
smooth.value = String(state.smoothing);
smooth.setAttribute('aria-label', 'Smoothing (exponential moving average weight)');
smoothWrap.append(smoothLabel, smooth);
const logBox = document.createElement('vscode-checkbox') as HTMLElement & { checked: boolean };
logBox.setAttribute('label', 'log y (gradients)');
logBox.checked = state.logY;
if (state.logY) logBox.setAttribute('checked', '');
toolbar.append(picker, xSelect, smoothWrap, logBox);

const updateSmoothLabel = (): void => {
  smoothLabel.textContent = `smoothing ${state.smoothing.toFixed(2)}`;
};
updateSmoothLabel();

interface Section {
  id: PanelChartId;
  seq2seq: boolean;
  notSeq2Seq: boolean;
  title: string;
  chart: LineChart | CanvasChart;
  collapsible: HTMLElement & { open: boolean; description: string };
}

const tall = mode === 'report';
type SectionKind = 'line' | 'spectrum' | 'scatter' | 'flow' | 'heatmap' | 'byLength' | 'encoderFlow';
/**
 * seq2seq: shown only while a seq2seq run is shown (language-model runs see the panels as before);
 * notSeq2Seq: hidden while only seq2seq runs are shown (they carry no data for it).
 */
const sectionDefs: { id: PanelChartId; title: string; kind: SectionKind; seq2seq?: true; notSeq2Seq?: true }[] = [
  { id: 'attention', title: 'Attention of pinned held-out examples', kind: 'heatmap', seq2seq: true },
  { id: 's2sMetrics', title: 'Held-out exact match, token accuracy, alignment', kind: 'line', seq2seq: true },
  { id: 'byLength', title: 'Held-out accuracy by source length (latest)', kind: 'byLength', seq2seq: true },
  { id: 'encoderFlow', title: 'Gradient reaching each encoder position ‖∂L/∂e_s‖ (latest)', kind: 'encoderFlow', seq2seq: true },
  { id: 'loss', title: 'Loss and bits per character', kind: 'line' },
  { id: 'gradNorm', title: 'Gradient norm ‖g‖', kind: 'line' },
  { id: 'sigma1', title: 'σ₁ of W_hh per layer and block', kind: 'line' },
  { id: 'spectrum', title: 'Singular values of W_hh (latest)', kind: 'spectrum' },
  { id: 'saturation', title: 'Gate saturation over steps', kind: 'line' },
  { id: 'scatter', title: 'Saturation per unit (Karpathy et al. 2015)', kind: 'scatter' },
  { id: 'flow', title: 'Gradient flow through time', kind: 'flow', notSeq2Seq: true },
];

const exportButtons: [PanelExportFormat, string, string][] = [
  ['png', 'file-media', 'Export PNG'],
  ['svg', 'file-code', 'Export SVG'],
  ['csv', 'table', 'Export data as CSV'],
];

const sectionList: Section[] = sectionDefs.map((def) => {
  const c = document.createElement('vscode-collapsible') as Section['collapsible'];
  c.setAttribute('heading', def.title);
  c.dataset.chart = def.id;
  c.open = !state.closed.includes(def.id);
  if (c.open) c.setAttribute('open', '');
  if (mode === 'report') c.setAttribute('always-show-header-actions', '');
  const actions = el('div', 'actions');
  actions.slot = 'actions';
  for (const [format, icon, label] of exportButtons) {
    const b = document.createElement('vscode-icon');
    b.setAttribute('name', icon);
    b.setAttribute('action-icon', '');
    b.setAttribute('label', label);
    b.title = label;
    b.dataset.format = format;
    b.addEventListener('vsc-click', (e) => {
      e.stopPropagation();
      exportChart(def.id, format);
    });
    actions.append(b);
  }
  const host = el('div', 'chart');
  host.dataset.chart = def.id;
  c.append(actions, host);
  sections.append(c);
  const height = def.kind === 'line' ? (tall ? 260 : 150) : def.kind === 'flow' || def.kind === 'encoderFlow' ? (tall ? 300 : 260) : tall ? 280 : 180;
  const kinds: Record<Exclude<SectionKind, 'line'>, new (id: string, host: HTMLElement, height: number) => CanvasChart> = {
    spectrum: SpectrumChart,
    scatter: ScatterChart,
    flow: FlowChart,
    heatmap: HeatmapChart,
    byLength: ByLengthChart,
    encoderFlow: EncoderFlowChart,
  };
  const chart = def.kind === 'line' ? new LineChart(def.id, host, height) : new kinds[def.kind](def.id, host, height);
  if (def.seq2seq) c.hidden = true;
  c.addEventListener('vsc-collapsible-toggle', () => {
    state.closed = sectionList.filter((s) => !s.collapsible.open).map((s) => s.id);
    saveState();
    scheduleDraw();
  });
  return { id: def.id, seq2seq: def.seq2seq === true, notSeq2Seq: def.notSeq2Seq === true, title: def.title, chart, collapsible: c };
});

// ---- chart specs ----
const shownRuns = (): RunSeries[] => state.shown.map((id) => runs.get(id)).filter((r): r is RunSeries => r !== undefined);

function color(i: number): string {
  return theme.palette[i % theme.palette.length];
}

/** Adds a series, and with smoothing on, its smoothed twin over a faint raw line. */
function addSmoothed(out: LineSeries[], s: Omit<LineSeries, 'faint'>, smoothable: boolean): void {
  if (!smoothable || state.smoothing <= 0) {
    out.push(s);
    return;
  }
  out.push({ ...s, faint: true, width: 1 });
  out.push({ ...s, y: ema(s.y, s.n, state.smoothing) });
}

function lineSpecs(list: RunSeries[]): Record<'loss' | 'gradNorm' | 'sigma1' | 'saturation', LineChartSpec> {
  const multi = list.length > 1;
  const xName = state.xAxis;
  const xLabel = xName === 'seen' ? 'characters seen' : 'step';
  const loss: LineSeries[] = [];
  const grad: LineSeries[] = [];
  const sigma: LineSeries[] = [];
  const sat: LineSeries[] = [];
  const gradThresholds: Threshold[] = [];
  const sigmaRefs = new Set<number>();
  const clipNotes: string[] = [];
  list.forEach((run, ri) => {
    const m = run.metrics;
    const x = m.col(xName);
    const n = m.n;
    const base = { x, n, run: run.info.id };
    const who = multi ? `${run.info.name} ` : '';
    const charlm = run.info.task !== 'forecast';
    // One run: loss and bpc, train and validation. Several: one measure each (bpc for text), so the overlay stays readable.
    const lossCols: [column: string, label: string, smoothable: boolean][] = [];
    if (!multi || !charlm) lossCols.push(['loss', 'loss', true], ['valLoss', 'val loss', false]);
    if (charlm) lossCols.push(['bpc', 'bpc', true], ['valBpc', 'val bpc', false]);
    lossCols.forEach(([col, label, smoothable], k) => {
      if (!run.present.has(col)) return;
      addSmoothed(
        loss,
        { ...base, y: m.col(col), label: who + label, color: color(multi ? ri : k), dash: multi && !smoothable ? [5, 3] : undefined, sparse: !smoothable },
        smoothable,
      );
    });
    addSmoothed(grad, { ...base, y: m.col('gradNorm'), label: `${who}‖g‖ before clipping`, color: color(multi ? ri : 0) }, true);
    addSmoothed(grad, { ...base, y: m.col('gradNormClipped'), label: `${who}‖g‖ after clipping`, color: color(multi ? ri : 2), dash: [5, 3] }, true);
    if (run.info.clipMode === 'norm' && run.info.clip !== undefined && !gradThresholds.some((t) => t.value === run.info.clip)) {
      gradThresholds.push({ value: run.info.clip, label: `clip threshold t = ${run.info.clip}` });
    }
    const pct = `${(run.clipFraction * 100).toFixed(run.clipFraction > 0 && run.clipFraction < 0.1 ? 1 : 0)}%`;
    clipNotes.push(multi ? `${run.info.name} ${pct}` : pct);
    run.sigmaKeys.forEach((key, k) => {
      const layer = Number(key.split('.')[0]);
      sigma.push({ ...base, y: m.col(`sigma:${key}`), label: `${who}${key}`, color: color(multi ? ri : k), dash: layer > 0 || (multi && k > 0) ? [5, 3] : undefined });
      const ref = run.reference.get(key);
      if (ref !== undefined) sigmaRefs.add(ref);
    });
    const d = run.diag;
    run.satKeys.forEach((key, k) => {
      sat.push({ x: d.col(xName), n: d.n, run: run.info.id, y: d.col(`sat:${key}`), label: `${who}${key}`, color: color(multi ? ri : k), dash: Number(key.split('.')[0]) > 0 ? [5, 3] : undefined });
    });
  });
  const clipNote = list.some((r) => r.info.clipMode !== 'none') ? `clipped on ${clipNotes.join(', ')} of steps` : list.length ? 'no clipping' : undefined;
  return {
    loss: { series: loss, thresholds: [], logY: false, xLabel },
    gradNorm: { series: grad, thresholds: gradThresholds, logY: state.logY, xLabel, note: clipNote },
    sigma1: {
      series: sigma,
      thresholds: [...sigmaRefs].sort((a, b) => a - b).map((v) => ({ value: v, label: `1/γ = ${v} (${v === 4 ? 'sigmoid gates' : 'tanh'})` })),
      logY: false,
      xLabel,
    },
    saturation: { series: sat, thresholds: [], logY: false, xLabel },
  };
}

/** Held-out evaluations over steps: exact match (the headline), token accuracy, BLEU (pairs), alignment accuracy (generated tasks). */
function seq2seqMetricsSpec(list: RunSeries[]): LineChartSpec {
  const series: LineSeries[] = [];
  const s2s = list.filter((r) => r.isSeq2Seq);
  const multi = s2s.length > 1;
  s2s.forEach((run, ri) => {
    const ev = run.evals;
    const x = Float64Array.from(ev, (e) => e.step);
    const cols: [label: string, value: (e: (typeof ev)[number]) => number | undefined][] = [
      ['exact match', (e) => e.exactMatch],
      ['token accuracy', (e) => e.tokenAccuracy],
      ['BLEU-4', (e) => e.bleu],
      ['alignment accuracy', (e) => e.alignmentAccuracy],
    ];
    cols.forEach(([label, value], k) => {
      if (!ev.some((e) => value(e) !== undefined)) return;
      const y = Float64Array.from(ev, (e) => value(e) ?? NaN);
      series.push({ x, y, n: ev.length, run: run.info.id, label: multi ? `${run.info.name} ${label}` : label, color: color(multi ? ri : k), dash: multi && k > 0 ? [5, 3] : undefined, sparse: true });
    });
  });
  const bleu = s2s.map((r) => r.evals.at(-1)?.bleuRecipe).find((x) => x);
  return { series, thresholds: [], logY: false, xLabel: 'step', note: bleu ? `BLEU: ${bleu}` : undefined };
}

// ---- drawing (throttled: live records arrive faster than anyone reads) ----
let drawTimer: ReturnType<typeof setTimeout> | undefined;
let lastDraw = 0;
const drawEveryMs = 250;

function scheduleDraw(): void {
  if (drawTimer) return;
  const wait = Math.max(0, lastDraw + drawEveryMs - performance.now());
  drawTimer = setTimeout(() => {
    drawTimer = undefined;
    requestAnimationFrame(drawNow);
  }, wait);
}

function drawNow(): void {
  lastDraw = performance.now();
  performance.mark('rnnLab.draw.start');
  const list = shownRuns();
  const specs = { ...lineSpecs(list), s2sMetrics: seq2seqMetricsSpec(list) };
  const counts: Partial<Record<PanelChartId, number>> = {};
  const anySeq2Seq = list.some((r) => r.isSeq2Seq);
  for (const s of sectionList) {
    if (s.seq2seq) s.collapsible.hidden = !anySeq2Seq;
    if (s.notSeq2Seq) s.collapsible.hidden = list.length > 0 && list.every((r) => r.isSeq2Seq);
    if (!s.collapsible.open || s.collapsible.hidden) continue;
    if (s.chart instanceof LineChart) {
      const spec = specs[s.id as keyof typeof specs];
      s.chart.update(spec, theme);
      s.collapsible.description = spec.note ?? '';
      counts[s.id] = s.chart.points;
    } else {
      s.chart.update(list, theme);
      counts[s.id] = s.chart.marks;
    }
  }
  updateStatus(list);
  // Measured by the Chromium test (test/webview/run.mjs) for the 100,000-point figure.
  // Only the latest measure is kept: a long run would otherwise fill the timeline.
  performance.clearMeasures('rnnLab.draw');
  performance.measure('rnnLab.draw', 'rnnLab.draw.start');
  const lastStep = Math.max(0, ...list.map((r) => r.lastStep));
  vscode.postMessage({ type: 'drew', runIds: list.map((r) => r.info.id), lastStep, charts: counts });
  vscode.postMessage({ type: 'received', ...received });
}

function updateStatus(list: RunSeries[]): void {
  if (!list.length) {
    status.textContent = runList.length ? 'Pick a run above.' : 'No run yet. Start one with "RNN Lab: Train RNN".';
    return;
  }
  status.textContent = list
    .map((r) => {
      const m = r.lastMetrics;
      const parts = [`${r.info.name} (${r.info.status})`];
      // Which engine trains (or trained) the run: the float32 WebAssembly SIMD kernels or the float64 JavaScript ones.
      if (r.info.path) parts.push(`${r.info.path === 'wasm-simd-f32' ? 'float32 WebAssembly SIMD' : 'float64 JavaScript'}${r.info.workers && r.info.workers > 1 ? ` x ${r.info.workers} workers` : ''}`);
      if (m) {
        parts.push(`step ${m.step}`, `loss ${m.loss.toFixed(3)}`);
        if (m.bpc !== undefined) parts.push(`bpc ${m.bpc.toFixed(3)}`);
        if (r.info.status === 'running') parts.push(`${Math.round(m.charsPerSec)} chars/s`);
      }
      if (r.metrics.stride > 1) parts.push(`1 point per ${r.metrics.stride} steps kept`);
      return parts.join(' · ');
    })
    .join('\n');
}

function saveState(): void {
  vscode.setState(state);
}

function flash(text: string): void {
  message.textContent = text;
  setTimeout(() => {
    if (message.textContent === text) message.textContent = '';
  }, 6000);
}

/** The chart's export data, or why there is none. */
function exportData(id: PanelChartId, format: PanelExportFormat): { data: string } | { reason: string } {
  const s = sectionList.find((x) => x.id === id);
  if (!s || !shownRuns().length) return { reason: 'no run is shown' };
  if (s.collapsible.hidden) return { reason: `the ${id} chart is not shown for this run` };
  if (s.chart instanceof CanvasChart && s.chart.marks === 0) return { reason: `the ${id} chart has drawn nothing yet` };
  const data = format === 'csv' ? s.chart.csv() : format === 'svg' ? s.chart.svg(s.title) : s.chart.png(s.title);
  return data ? { data } : { reason: `the ${id} chart has no data` };
}

function exportChart(id: PanelChartId, format: PanelExportFormat): void {
  const out = exportData(id, format);
  if ('reason' in out) {
    flash(`Nothing to export: ${out.reason}.`);
    return;
  }
  vscode.postMessage({ type: 'export', chart: id, format, data: out.data });
}

// ---- controls ----
function fillPicker(): void {
  picker.replaceChildren();
  for (const r of runList) {
    const o = document.createElement('vscode-option');
    o.setAttribute('value', r.id);
    o.textContent = `${r.name} · ${r.status}${r.cell ? ` · ${r.cell.toUpperCase()} ${r.layers}x${r.hidden}` : ''}`;
    if (state.shown.includes(r.id)) o.setAttribute('selected', '');
    picker.append(o);
  }
}

picker.addEventListener('change', () => {
  const v = picker.value;
  const ids = (Array.isArray(v) ? v : [v]).filter((x) => typeof x === 'string' && x);
  if (!ids.length || JSON.stringify(ids) === JSON.stringify(state.shown)) return;
  state.shown = ids;
  saveState();
  vscode.postMessage({ type: 'show', runIds: ids });
  scheduleDraw();
});
xSelect.addEventListener('change', () => {
  state.xAxis = xSelect.value === 'seen' ? 'seen' : 'step';
  saveState();
  scheduleDraw();
});
smooth.addEventListener('input', () => {
  state.smoothing = Math.min(0.99, Math.max(0, Number(smooth.value) || 0));
  updateSmoothLabel();
  saveState();
  scheduleDraw();
});
logBox.addEventListener('change', () => {
  state.logY = logBox.checked;
  saveState();
  scheduleDraw();
});

// Canvas charts follow the panel's width; uPlot charts observe their own hosts.
new ResizeObserver(() => {
  for (const s of sectionList) if (s.chart instanceof CanvasChart && s.collapsible.open) s.chart.draw();
}).observe(sections);

watchTheme((t) => {
  theme = t;
  scheduleDraw();
});

// ---- messages from the extension ----
window.addEventListener('message', (event: MessageEvent<ToPanel>) => {
  const m = event.data;
  if (!m || typeof m !== 'object') return;
  switch (m.type) {
    case 'runs':
      runList = m.runs;
      state.shown = m.shown;
      for (const id of [...runs.keys()]) if (!state.shown.includes(id)) runs.delete(id);
      for (const r of runList) {
        const series = runs.get(r.id);
        if (series) series.info = r;
      }
      fillPicker();
      saveState();
      scheduleDraw();
      break;
    case 'runData': {
      performance.mark('rnnLab.ingest.start');
      const series = new RunSeries(m.run);
      for (const r of m.metrics) series.addMetrics(r);
      for (const r of m.diagnostics) series.addDiagnostics(r);
      for (const r of m.evals ?? []) series.addEval(r);
      received.evals += m.evals?.length ?? 0;
      runs.set(m.run.id, series);
      performance.clearMeasures('rnnLab.ingest');
      performance.measure('rnnLab.ingest', 'rnnLab.ingest.start');
      received.metrics += m.metrics.length;
      received.diagnostics += m.diagnostics.length;
      received.lastStep = Math.max(received.lastStep, series.lastStep);
      scheduleDraw();
      break;
    }
    case 'records': {
      const series = runs.get(m.runId);
      received.metrics += m.metrics.length;
      received.diagnostics += m.diagnostics.length;
      for (const r of m.metrics) {
        received.lastStep = Math.max(received.lastStep, r.step);
        series?.addMetrics(r);
      }
      for (const r of m.diagnostics) series?.addDiagnostics(r);
      for (const r of m.evals ?? []) series?.addEval(r);
      received.evals += m.evals?.length ?? 0;
      if (series) scheduleDraw();
      break;
    }
    case 'exportRequest': {
      const out = exportData(m.chart, m.format);
      vscode.postMessage('data' in out ? { type: 'export', chart: m.chart, format: m.format, data: out.data, request: m.request } : { type: 'exportFailed', request: m.request, reason: out.reason });
      break;
    }
    case 'exported':
      flash(m.error ? `Export failed: ${m.error}` : m.path ? `Saved ${m.path}` : 'Export cancelled.');
      break;
  }
});

updateStatus([]);
vscode.postMessage({ type: 'ready' });
