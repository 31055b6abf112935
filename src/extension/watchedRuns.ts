/**
 * Run folders written by another process: `python train.py` of an exported PyTorch project, a
 * script using rnnlab_logger.py, `rnn-lab train` in a terminal, or a remote machine's output
 * synced into the workspace. Watched are every folder of the run store that this window does not
 * train and that has no summary.json (a finished run writes it last), plus any folder added with
 * RNN Lab: Watch Run Folder....
 *
 * Every POLL_MS the watcher stats each such folder's records files (metrics.jsonl and
 * diagnostics.jsonl, and their chunks). A run whose files grow is 'running': the Runs view shows it
 * so and the panels get its records live, through the same PanelHub feed as a run of this window
 * (its earlier records first, then each new whole line). It is no longer running once summary.json
 * appears (its status is then the summary's) or once its files have not grown for `quietMs` (then
 * 'stopped', as an interrupted run is). Polling, not file-system events: workspace.fs offers no
 * events for files outside the workspace, and a synced or mounted folder often sends none; a stat
 * per file every POLL_MS is cheap, and the poll is the bound on the delay from a line written to
 * the panels having it.
 */
import * as vscode from 'vscode';
import type { DiagnosticsRecord, MetricsRecord, RunConfig, RunStatus, RunSummary } from '../protocol/config';
import { jsonlChunkName } from '../protocol/jsonl';
import { runFiles, safeRunName } from '../runFolder/runFolder';
import type { PanelHub } from './panelHub';
import type { RunStore } from './runStore';
import { exists } from './workspaceRunFs';

const POLL_MS = 250;
/** How often the run store's folder list is read again for new folders. */
const SCAN_MS = 1000;

/** One records file followed through its chunks: how far its complete lines have been read. */
interface Cursor {
  chunk: number;
  offset: number;
}

interface Watched {
  id: string;
  uri: vscode.Uri;
  /** Added with Watch Run Folder... (outside the run store): listed by the watcher itself. */
  outside: boolean;
  config?: RunConfig;
  cursors: Record<string, Cursor>;
  /** When its files last grew (ms); 0 until they grow while watched. */
  grewAt: number;
  status: RunStatus;
  /** Sizes at the first look, so an old interrupted run is not taken for a running one. */
  seen: boolean;
}

const decoder = new TextDecoder();

export class WatchedRuns implements vscode.Disposable {
  private readonly runs = new Map<string, Watched>();
  private timer: ReturnType<typeof setInterval> | undefined;
  private lastScan = 0;
  private polling = false;
  private readonly changed = new vscode.EventEmitter<void>();
  /** A watched run started or stopped running, or a folder was added. */
  readonly onDidChange = this.changed.event;
  private readonly recorded = new vscode.EventEmitter<void>();
  /** New metrics records were read. */
  readonly onDidRecord = this.recorded.event;
  /** Files quiet this long (ms) mean the writer stopped. Tests shorten it. */
  quietMs = 15_000;

  constructor(
    private readonly store: RunStore,
    private readonly hub: PanelHub,
    /** Runs this window trains: never watched. */
    private readonly isActive: (id: string) => boolean,
  ) {
    this.timer = setInterval(() => void this.poll(), POLL_MS);
  }

  /** The latest metrics record read of each watched run (the Runs view's step and loss). */
  private readonly lastMetrics = new Map<string, MetricsRecord>();

  last(id: string): MetricsRecord | undefined {
    return this.lastMetrics.get(id);
  }

  /** Watched runs whose files grow now. */
  running(): string[] {
    return [...this.runs.values()].filter((r) => r.status === 'running').map((r) => r.id);
  }

  /** The folders added with Watch Run Folder..., as the Runs view lists them. */
  outsideRuns(): { id: string; uri: vscode.Uri; config?: RunConfig; status: RunStatus }[] {
    return [...this.runs.values()].filter((r) => r.outside).map(({ id, uri, config, status }) => ({ id, uri, config, status }));
  }

  /** Watches a folder outside the run store; returns its id (a panel's run id), or an error line. */
  async addFolder(uri: vscode.Uri): Promise<{ id: string } | { problem: string }> {
    for (const r of this.runs.values()) if (r.uri.toString() === uri.toString()) return { id: r.id };
    if (!(await exists(vscode.Uri.joinPath(uri, runFiles.config))) && !(await exists(vscode.Uri.joinPath(uri, runFiles.metrics)))) {
      return { problem: `${uri.fsPath || uri.toString()} has no ${runFiles.config} or ${runFiles.metrics}: it is not an RNN Lab run folder (rnnlab_logger.py and train.py write one)` };
    }
    const base = safeRunName(uri.path.split('/').filter(Boolean).pop() ?? 'run');
    let id = `watched-${base}`;
    for (let k = 2; this.runs.has(id); k++) id = `watched-${base}-${k}`;
    // Read from the start at once: a folder the user points at is shown whole, running or not.
    const run: Watched = { id, uri, outside: true, cursors: {}, grewAt: 0, status: 'stopped', seen: true };
    this.runs.set(id, run);
    await this.read(run, Date.now(), true);
    // Shown as it is until it grows: a finished run with its summary's status, else stopped.
    this.hub.endRun(id, (await readSummary(uri))?.status ?? 'stopped');
    this.changed.fire();
    return { id };
  }

  /** One poll: new store folders (every SCAN_MS), then every watched folder's files. */
  async poll(now = Date.now()): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      if (now - this.lastScan >= SCAN_MS) {
        this.lastScan = now;
        await this.scanStore();
      }
      // Running runs every poll; the others (which may start) at the scan's pace.
      const due = [...this.runs.values()].filter((r) => r.status === 'running' || this.lastScan === now);
      await Promise.all(due.map((r) => this.read(r, now, false)));
    } finally {
      this.polling = false;
    }
  }

  private async scanStore(): Promise<void> {
    let entries: [string, vscode.FileType][];
    try {
      entries = await vscode.workspace.fs.readDirectory(this.store.root);
    } catch {
      return; // no run store yet
    }
    for (const [id, type] of entries) {
      if (!(type & vscode.FileType.Directory) || this.runs.has(id) || this.isActive(id) || this.store.isOpen(id)) continue;
      const uri = this.store.runUri(id);
      if (await exists(vscode.Uri.joinPath(uri, runFiles.summary))) continue;
      this.runs.set(id, { id, uri, outside: false, cursors: {}, grewAt: 0, status: 'stopped', seen: false });
    }
  }

  /**
   * Reads what a run's files gained since the last look. `fromStart`: feed every record (a run
   * that just started running, or a folder just added), not only the new ones.
   */
  private async read(run: Watched, now: number, fromStart: boolean): Promise<void> {
    if (!run.outside && (this.isActive(run.id) || this.store.isOpen(run.id))) {
      this.runs.delete(run.id);
      return;
    }
    // Both files at once: in a remote host (code-server) every stat and read is a round trip.
    const grown = await Promise.all([runFiles.metrics, runFiles.diagnostics].map((file) => this.readFile(run, file, fromStart)));
    const grew = grown.some(Boolean);
    const firstLook = !run.seen;
    run.seen = true;
    if (firstLook) return;
    // summary.json is looked for when the files did not grow: a finished writer stops growing them.
    const summary = grew ? undefined : await readSummary(run.uri);
    if (grew) {
      run.grewAt = now;
      if (run.status !== 'running' && !summary) {
        run.config ??= await readConfig(run.uri);
        run.status = 'running';
        this.store.setExternallyRunning(run.id, true);
        this.changed.fire();
        if (!fromStart) {
          // Started running while watched: the panels get its records from the beginning.
          this.hub.startRun(run.id, run.config ?? ({ name: run.id } as RunConfig));
          run.cursors = {};
          await this.read(run, now, true);
          return;
        }
      }
    }
    if (run.status === 'running' && (summary || now - run.grewAt > this.quietMs)) {
      run.status = summary?.status ?? 'stopped';
      this.store.setExternallyRunning(run.id, false);
      this.hub.endRun(run.id, run.status);
      if (!run.outside) this.runs.delete(run.id); // back to the store's listing; a resumed writer is found again
      this.changed.fire();
    }
  }

  /** Reads one records file's growth (following its chunks); returns whether it grew. */
  private async readFile(run: Watched, file: string, fromStart: boolean): Promise<boolean> {
    const cursor = (run.cursors[file] ??= { chunk: 0, offset: 0 });
    let grew = false;
    for (;;) {
      const uri = vscode.Uri.joinPath(run.uri, jsonlChunkName(file, cursor.chunk));
      let size: number;
      try {
        size = (await vscode.workspace.fs.stat(uri)).size;
      } catch {
        return grew;
      }
      if (size > cursor.offset) {
        if (run.seen && !fromStart) grew = true;
        if (!run.seen) cursor.offset = size; // the first look only measures
        else await this.readLines(run, file, uri, cursor, fromStart);
        return grew;
      }
      // A chunk that stopped growing may have been sealed: the next one, once it exists, is followed.
      if (!(await exists(vscode.Uri.joinPath(run.uri, jsonlChunkName(file, cursor.chunk + 1))))) return grew;
      cursor.chunk++;
      cursor.offset = 0;
    }
  }

  /** Feeds the file's complete lines from the cursor on to the panels and moves the cursor past them. */
  private async readLines(run: Watched, file: string, uri: vscode.Uri, cursor: Cursor, fromStart: boolean): Promise<void> {
    let bytes: Uint8Array;
    try {
      bytes = await vscode.workspace.fs.readFile(uri);
    } catch {
      return;
    }
    const end = bytes.lastIndexOf(10) + 1; // a last line without its newline is still being written
    if (end <= cursor.offset) return;
    const text = decoder.decode(bytes.subarray(cursor.offset, end));
    cursor.offset = end;
    if (!this.hub.isLive(run.id)) {
      if (!fromStart && run.status !== 'running') return;
      this.hub.startRun(run.id, (run.config ??= await readConfig(run.uri)) ?? ({ name: run.id } as RunConfig));
    }
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      let record: { type?: unknown };
      try {
        record = JSON.parse(line);
      } catch {
        continue; // a damaged line: the others still show
      }
      if (record?.type === 'metrics' && file === runFiles.metrics) {
        this.lastMetrics.set(run.id, record as MetricsRecord);
        this.hub.record({ type: 'metrics', runId: run.id, record: record as MetricsRecord });
        this.recorded.fire();
      }
      else if (record?.type === 'diagnostics' && file === runFiles.diagnostics) this.hub.record({ type: 'diagnostics', runId: run.id, record: record as DiagnosticsRecord });
    }
  }

  dispose(): void {
    clearInterval(this.timer);
    this.changed.dispose();
    this.recorded.dispose();
  }
}

async function readJsonFile<T>(uri: vscode.Uri): Promise<T | undefined> {
  try {
    return JSON.parse(decoder.decode(await vscode.workspace.fs.readFile(uri))) as T;
  } catch {
    return undefined;
  }
}

const readConfig = (uri: vscode.Uri) => readJsonFile<RunConfig>(vscode.Uri.joinPath(uri, runFiles.config));
const readSummary = (uri: vscode.Uri) => readJsonFile<RunSummary>(vscode.Uri.joinPath(uri, runFiles.summary));
