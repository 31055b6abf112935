import * as vscode from 'vscode';
import type { DiagnosticsRecord, EnginePath, MetricsRecord, RunConfig, RunStatus, Seq2SeqEvalRecord } from '../protocol/config';
import type { FromWorker } from '../protocol/trainingWorker';
import type { FromPanel, PanelChartId, PanelExportFormat, PanelRunInfo, ToPanel } from '../protocol/panel';
import { writeExport } from './commands/exportHeatmap';
import { checkFromPanel, exportBytes, forEachJsonlRecord, isRunId, panelPageHtml, RunBuffer } from './panelMessages';
import { timed } from './hostWork';
import { isListableConfig, readChunkText, readJson, runFiles, runPath, type RunFs } from '../runFolder/runFolder';
import type { RunStore } from './runStore';

export interface DrewAck {
  runIds: string[];
  lastStep: number;
  charts: Partial<Record<PanelChartId, number>>;
}

/**
 * Feeds the panels (the side view and any report panels): keeps a bounded buffer of each run
 * training in this window, forwards live records to the webviews showing that run, and loads
 * finished runs from the run store on demand (through the same bounded buffer).
 */
export class PanelHub {
  private readonly live = new Map<string, { buffer: RunBuffer; info: PanelRunInfo }>();
  readonly connections = new Set<PanelConnection>();
  private readonly startedEmitter = new vscode.EventEmitter<string>();
  /** A run started in this window. */
  readonly onRunStarted = this.startedEmitter.event;

  /** `store`: where finished runs are read from (none: only runs training in this window). */
  constructor(readonly store?: RunStore) {}

  /**
   * Run folders outside the store that panels can show (WatchedRuns: Watch Run Folder...): where
   * one is read by its id, and the list of them.
   */
  outside?: { folderOf(id: string): { fs: RunFs; dir: string } | undefined; outsideRuns(): { id: string; config?: RunConfig; status: RunStatus; summary?: { path?: EnginePath } }[] };

  /** A run no longer shown (a watched folder forgotten): its buffer is dropped. */
  forgetRun(id: string): void {
    if (!this.live.delete(id)) return;
    for (const c of this.connections) void c.sendRunList();
  }

  /** A run started in this window (ActiveRuns): panels can show it before its first record. */
  startRun(id: string, config: RunConfig): void {
    this.live.set(id, { buffer: new RunBuffer(), info: infoOf(id, config, 'running') });
    // Ended runs beyond the newest few are dropped: the run store has their files.
    const ended = [...this.live].filter(([, r]) => r.info.status !== 'running');
    for (const [old] of ended.slice(0, Math.max(0, ended.length - 4))) this.live.delete(old);
    this.startedEmitter.fire(id);
    for (const c of this.connections) void c.sendRunList();
  }

  /** The engine a run started with startRun trains on (its worker's 'started' message). */
  started(id: string, path: EnginePath | undefined, workers?: number): void {
    const run = this.live.get(id);
    if (!run || !path) return;
    run.info = { ...run.info, path, workers };
    for (const c of this.connections) void c.sendRunList();
  }

  /** A live record of a run started with startRun. */
  record(msg: LiveRecord): void {
    const run = this.live.get(msg.runId);
    if (!run) return;
    if (msg.type === 'metrics') run.buffer.metrics.add(msg.record);
    else if (msg.type === 'diagnostics') run.buffer.diagnostics.add(msg.record);
    else run.buffer.evals.add(msg.record);
    for (const c of this.connections) c.live(msg);
  }

  /** The run ended and its files are written; `path`: the engine its summary names. */
  endRun(id: string, status: RunStatus, path?: EnginePath, workers?: number): void {
    const run = this.live.get(id);
    if (run) run.info = { ...run.info, status, path: path ?? run.info.path, workers: workers ?? run.info.workers };
    for (const c of this.connections) void c.sendRunList();
  }

  isLive(id: string): boolean {
    return this.live.get(id)?.info.status === 'running';
  }

  async runList(): Promise<PanelRunInfo[]> {
    const stored = [...(this.outside?.outsideRuns() ?? []), ...((await this.store?.list()) ?? [])];
    const list = stored.map((r) => infoOf(r.id, r.config, this.live.get(r.id)?.info.status ?? r.status, this.live.get(r.id)?.info.path ?? r.summary?.path, this.live.get(r.id)?.info.workers ?? (r.summary as { workers?: number } | undefined)?.workers));
    for (const [id, r] of this.live) if (!list.some((x) => x.id === id)) list.unshift(r.info);
    return list;
  }

  /** The newest run training now, else the newest stored run. */
  async defaultRun(): Promise<string | undefined> {
    const running = [...this.live].filter(([, r]) => r.info.status === 'running').map(([id]) => id);
    if (running.length) return running.at(-1);
    return (await this.runList())[0]?.id;
  }

  /** A run's records for a panel: the live buffer, or the run's files read through a buffer of the same bound. */
  async snapshot(id: string): Promise<Extract<ToPanel, { type: 'runData' }> | undefined> {
    const live = this.live.get(id);
    if (live) {
      const { metrics, diagnostics, evals } = live.buffer;
      return { type: 'runData', run: live.info, metrics: metrics.snapshot(), diagnostics: diagnostics.snapshot(), evals: evals.snapshot(), decimatedFrom: metrics.thinnedBy > 1 ? metrics.count : undefined };
    }
    if (!isRunId(id)) return undefined;
    const where = this.outside?.folderOf(id) ?? (this.store && { fs: this.store.fs, dir: id });
    if (!where) return undefined;
    const { fs, dir } = where;
    // A folder without config.json is no run; one whose files do not parse is shown with what can be read.
    if (!(await fs.exists(runPath(dir, runFiles.config)))) return undefined;
    const raw = await readJson<unknown>(fs, runPath(dir, runFiles.config));
    const config = isListableConfig(raw) ? raw : undefined;
    const summary = await readJson<{ status?: RunStatus; path?: EnginePath; workers?: number }>(fs, runPath(dir, runFiles.summary));
    const status = summary?.status ?? 'stopped';
    const buffer = new RunBuffer();
    const read = (chunk: string) => readChunkText(fs, dir, chunk).catch(() => undefined);
    await forEachJsonlRecord<MetricsRecord>(read, runFiles.metrics, 'metrics', (r) => buffer.metrics.add(r));
    await forEachJsonlRecord<DiagnosticsRecord>(read, runFiles.diagnostics, 'diagnostics', (r) => buffer.diagnostics.add(r));
    await forEachJsonlRecord<Seq2SeqEvalRecord>(read, runFiles.eval, 'seq2seqEval', (r) => buffer.evals.add(r));
    return {
      type: 'runData',
      run: infoOf(id, config, status, summary?.path, typeof summary?.workers === 'number' ? summary.workers : undefined),
      metrics: buffer.metrics.snapshot(),
      diagnostics: buffer.diagnostics.snapshot(),
      evals: buffer.evals.snapshot(),
      decimatedFrom: buffer.metrics.thinnedBy > 1 ? buffer.metrics.count : undefined,
    };
  }
}

/** What the worker sends that the panels draw. */
export type LiveRecord = Extract<FromWorker, { type: 'metrics' | 'diagnostics' | 'seq2seqEval' }>;

function infoOf(id: string, config: RunConfig | undefined, status: RunStatus, path?: EnginePath, workers?: number): PanelRunInfo {
  return {
    path,
    workers,
    id,
    name: config?.name ?? id,
    status,
    cell: config?.cell,
    layers: config?.layers,
    hidden: config?.hidden,
    clipMode: config?.clipMode,
    clip: config?.clip,
    task: config?.task,
  };
}

/**
 * One webview showing panels (the side view, or one report). It waits for the page's 'ready',
 * sends the run list and the shown runs' buffered records, then live records; a hidden webview
 * gets nothing and is brought up to date when it shows again.
 */
export class PanelConnection implements vscode.Disposable {
  ready = false;
  private stale = false;
  private readonly disposables: vscode.Disposable[] = [];
  lastAck: { metrics: number; diagnostics: number; lastStep: number; evals?: number } | undefined;
  lastDrew: DrewAck | undefined;
  readyCount = 0;
  private readonly readyEmitter = new vscode.EventEmitter<void>();
  readonly onDidBecomeReady = this.readyEmitter.event;
  private readonly drewEmitter = new vscode.EventEmitter<DrewAck>();
  readonly onDidDraw = this.drewEmitter.event;
  /** Messages from the webview that failed validation (tests and logs read them). */
  readonly rejected: string[] = [];

  constructor(
    readonly kind: 'side' | 'report',
    private readonly hub: PanelHub,
    private readonly webview: vscode.Webview,
    private readonly isVisible: () => boolean,
    public shown: string[],
    /** Called when the user picks runs in the webview (the report retitles itself). */
    private readonly onShow?: (ids: string[]) => void,
  ) {
    hub.connections.add(this);
    this.disposables.push(webview.onDidReceiveMessage((m: unknown) => void this.receive(m)));
  }

  /** Handles one message from the webview (untrusted; checked first). Public so a test can send what a webview could. */
  async receive(raw: unknown): Promise<void> {
    const checked = checkFromPanel(raw);
    if (!checked.ok) {
      this.rejected.push(checked.reason);
      return;
    }
    const msg: FromPanel = checked.msg;
    switch (msg.type) {
      case 'ready':
        this.ready = true;
        this.readyCount++;
        await this.sendAll();
        this.readyEmitter.fire();
        break;
      case 'received':
        this.lastAck = { metrics: msg.metrics, diagnostics: msg.diagnostics, lastStep: msg.lastStep, evals: msg.evals };
        break;
      case 'drew':
        this.lastDrew = { runIds: msg.runIds, lastStep: msg.lastStep, charts: msg.charts };
        this.drewEmitter.fire(this.lastDrew);
        break;
      case 'show':
        await this.show(msg.runIds);
        this.onShow?.(msg.runIds);
        break;
      case 'export':
        if (msg.request !== undefined) this.answer(msg.request, { data: msg.data });
        else await this.export(msg.chart, msg.format, msg.data);
        break;
      case 'exportFailed':
        this.answer(msg.request, { error: msg.reason });
        break;
    }
  }

  /** Shows these runs (replacing what was shown). */
  async show(ids: string[]): Promise<void> {
    this.shown = ids;
    await this.sendAll();
  }

  async sendRunList(): Promise<void> {
    if (!this.ready) return;
    await this.post({ type: 'runs', runs: await this.hub.runList(), shown: this.shown });
  }

  /** The run list, then each shown run's records. */
  async sendAll(): Promise<void> {
    if (!this.ready) return;
    if (!this.isVisible()) {
      this.stale = true;
      return;
    }
    this.stale = false;
    // The snapshots below hold everything queued so far.
    this.queue.clear();
    if (this.kind === 'side' && this.shown.length === 0) {
      const id = await this.hub.defaultRun();
      if (id) this.shown = [id];
    }
    await this.sendRunList();
    for (const id of this.shown) {
      const data = await this.hub.snapshot(id);
      if (data) await this.post(data);
    }
  }

  private queue = new Map<string, { metrics: MetricsRecord[]; diagnostics: DiagnosticsRecord[]; evals: Seq2SeqEvalRecord[] }>();
  private flushTimer: ReturnType<typeof setTimeout> | undefined;

  /**
   * A live record: for a ready, visible webview showing that run, queued and posted in one
   * message per ~100 ms (a small model trains hundreds of steps a second; one message each would
   * cost more than drawing them).
   */
  live(msg: LiveRecord): void {
    if (!this.ready || !this.shown.includes(msg.runId)) return;
    if (!this.isVisible()) {
      this.stale = true;
      return;
    }
    let q = this.queue.get(msg.runId);
    if (!q) this.queue.set(msg.runId, (q = { metrics: [], diagnostics: [], evals: [] }));
    if (msg.type === 'metrics') q.metrics.push(msg.record);
    else if (msg.type === 'diagnostics') q.diagnostics.push(msg.record);
    else q.evals.push(msg.record);
    this.flushTimer ??= setTimeout(() => this.flush(), 100);
  }

  private flush(): void {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    const queued = this.queue;
    this.queue = new Map();
    timed('panel batch', () => {
      for (const [runId, q] of queued) void this.post({ type: 'records', runId, metrics: q.metrics, diagnostics: q.diagnostics, ...(q.evals.length ? { evals: q.evals } : {}) });
    });
  }

  /** The webview shows again: replay if it missed records while hidden. */
  visibilityChanged(): void {
    if (this.isVisible() && this.stale) void this.sendAll();
  }

  private async post(msg: ToPanel): Promise<void> {
    try {
      await this.webview.postMessage(msg);
    } catch {
      // disposed meanwhile
    }
  }

  private async export(chart: PanelChartId, format: 'png' | 'svg' | 'csv', data: string): Promise<void> {
    const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
    const base = `${this.shown.length === 1 ? this.shown[0] : 'compare'}-${chart}.${format}`;
    const filters: Record<string, string[]> = { png: { PNG: ['png'] }, svg: { SVG: ['svg'] }, csv: { CSV: ['csv'] } }[format];
    const target = await vscode.window.showSaveDialog({
      title: `Export the ${chart} chart as ${format.toUpperCase()}`,
      defaultUri: folder ? vscode.Uri.joinPath(folder, base) : undefined,
      filters,
    });
    if (!target) {
      await this.post({ type: 'exported', chart, format });
      return;
    }
    try {
      await writeExport(target, exportBytes(format, data));
      await this.post({ type: 'exported', chart, format, path: vscode.workspace.asRelativePath(target, false) });
    } catch (e) {
      const error = e instanceof Error ? e.message : String(e);
      void vscode.window.showErrorMessage(`RNN Lab: could not write ${target.fsPath}: ${error}. Pick another place.`);
      await this.post({ type: 'exported', chart, format, error });
    }
  }

  private requests = 0;
  private readonly pending = new Map<number, (answer: { data?: string; error?: string }) => void>();

  private answer(request: number, answer: { data?: string; error?: string }): void {
    this.pending.get(request)?.(answer);
    this.pending.delete(request);
  }

  /**
   * A chart as this panel draws it now (the heatmap: the example and step picked in it), for the
   * export command. Rejects with the panel's reason when it has nothing to export, or after 20 s.
   */
  async requestExport(chart: PanelChartId, format: PanelExportFormat): Promise<string> {
    if (!this.ready) throw new Error('the panel is not loaded yet');
    const request = ++this.requests;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const answer = new Promise<{ data?: string; error?: string }>((resolve) => {
      this.pending.set(request, resolve);
      timer = setTimeout(() => this.answer(request, { error: 'the panel did not answer within 20 s' }), 20_000);
    }).finally(() => clearTimeout(timer));
    await this.post({ type: 'exportRequest', chart, format, request });
    const { data, error } = await answer;
    if (data === undefined) throw new Error(error ?? 'no data');
    return data;
  }

  get isShowing(): boolean {
    return this.isVisible();
  }

  dispose(): void {
    clearTimeout(this.flushTimer);
    for (const request of [...this.pending.keys()]) this.answer(request, { error: 'the panel was closed' });
    this.hub.connections.delete(this);
    this.disposables.forEach((d) => d.dispose());
  }
}

/** The panels' page for this webview, with a fresh nonce. */
export function panelHtml(webview: vscode.Webview, extensionUri: vscode.Uri, mode: 'side' | 'report'): string {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  const nonce = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  const asset = (f: string): string => webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'dist', 'webview', f)).toString();
  return panelPageHtml({ cspSource: webview.cspSource, nonce, asset, mode });
}

/** What a webview may load: the built panel assets only. */
export function panelResourceRoots(extensionUri: vscode.Uri): vscode.Uri[] {
  return [vscode.Uri.joinPath(extensionUri, 'dist', 'webview')];
}
