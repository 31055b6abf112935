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
 *
 * Folders added with Watch Run Folder... are remembered in the workspace's state (a window reload
 * watches them again; one gone meanwhile is dropped with a log line) until Stop Watching or Delete
 * Run forgets them. A records file is read from its cursor on: in the Node host a file: folder is
 * read with a ranged read of the new bytes only; elsewhere (the web host, remote file systems)
 * workspace.fs can only read a file whole, so a file is read again no sooner than 10x its last
 * whole read took (BACKOFF), which keeps the host's share of time spent re-reading under ~10%
 * however large the file grows. config.json and summary.json are parsed with the bounded parser
 * (engine/json.ts) through a RunFs that refuses a non-regular file or one over MAX_JSON_BYTES; a
 * file another process is still writing (torn JSON) is read again at the next poll, silently.
 */
import * as vscode from 'vscode';
import type { DiagnosticsRecord, MetricsRecord, RunConfig, RunStatus, RunSummary } from '../protocol/config';
import { jsonlChunkName } from '../protocol/jsonl';
import { runFiles, safeRunName, type RunFs } from '../runFolder/runFolder';
import { completeLines, nextWholeRead, readRunJson } from '../runFolder/tailRead';
import { parseJsonLines } from './panelMessages';
import type { PanelHub } from './panelHub';
import type { RunStore } from './runStore';
import { exists, workspaceRunFs } from './workspaceRunFs';

const POLL_MS = 250;
/** How often the run store's folder list is read again for new folders. */
const SCAN_MS = 1000;
/** The workspace state key of the folders added with Watch Run Folder... (their URIs). */
const MEMORY_KEY = 'rnnLab.watchedFolders';
/** config.json and summary.json are a few kB; a larger one is no run's. */
const MAX_JSON_BYTES = 1 << 20;
/** At most this much of a records file is read per poll (a large backlog comes in over a few polls). */
const MAX_READ_BYTES = 64 << 20;

/** A run folder as the run folder layer reads it: `fs` paths `<dir>/<file>`. */
export interface RunFolderRef {
  fs: RunFs;
  dir: string;
}

/** One records file followed through its chunks: how far its complete lines have been read. */
interface Cursor {
  chunk: number;
  offset: number;
  /** Whole reads only (no ranged read): not before this time (ms). */
  readAfter: number;
}

interface Watched {
  id: string;
  uri: vscode.Uri;
  folder: RunFolderRef;
  /** The same folder with JSON files capped at MAX_JSON_BYTES. */
  json: RunFs;
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

type NodeFs = typeof import('node:fs/promises');
let nodeFs: Promise<NodeFs | undefined> | undefined;

/** node:fs in the Node extension host (desktop, code-server); undefined in the web worker host. */
function nodeFsOfHost(): Promise<NodeFs | undefined> {
  const isNode = typeof process === 'object' && typeof (process as { versions?: { node?: unknown } }).versions?.node === 'string';
  return (nodeFs ??= isNode ? import('node:fs/promises').catch(() => undefined) : Promise.resolve(undefined));
}

/** Bytes [offset, offset + length) of a local file, or undefined when this host cannot read a range of it. */
async function rangedRead(uri: vscode.Uri, offset: number, length: number): Promise<Uint8Array | undefined> {
  if (uri.scheme !== 'file') return undefined;
  const fs = await nodeFsOfHost();
  if (!fs) return undefined;
  const handle = await fs.open(uri.fsPath, 'r');
  try {
    const bytes = new Uint8Array(length);
    const { bytesRead } = await handle.read(bytes, 0, length, offset);
    return bytes.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

export class WatchedRuns implements vscode.Disposable {
  private readonly runs = new Map<string, Watched>();
  private timer: ReturnType<typeof setInterval> | undefined;
  private lastScan = 0;
  private polling = false;
  private readonly changed = new vscode.EventEmitter<void>();
  /** A watched run started or stopped running, or a folder was added or forgotten. */
  readonly onDidChange = this.changed.event;
  private readonly recorded = new vscode.EventEmitter<void>();
  /** New metrics records were read. */
  readonly onDidRecord = this.recorded.event;
  /** Files quiet this long (ms) mean the writer stopped. Tests shorten it. */
  quietMs = 15_000;
  /** Settles once the remembered folders are watched again (or dropped). */
  readonly restored: Promise<void>;
  /** Records reads so far, by kind: `ranged` (new bytes only) or `whole` (workspace.fs, whole file). */
  readonly reads = { ranged: 0, whole: 0 };
  /** Files already reported as refused (one log line each, not one per poll). */
  private readonly refusedLogged = new Set<string>();

  constructor(
    private readonly store: RunStore,
    private readonly hub: PanelHub,
    /** Runs this window trains: never watched. */
    private readonly isActive: (id: string) => boolean,
    /** Where the added folders are remembered (the workspace's state); none: not remembered. */
    readonly memory?: vscode.Memento,
    /** A line for the log (a remembered folder dropped, a file refused). */
    private readonly log: (line: string) => void = () => {},
  ) {
    this.restored = this.restore();
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

  /** Whether another process is writing this run now (its files grew within quietMs). */
  isGrowing(id: string): boolean {
    return this.runs.get(id)?.status === 'running';
  }

  /** The folders added with Watch Run Folder..., as the Runs view lists them. */
  outsideRuns(): { id: string; uri: vscode.Uri; config?: RunConfig; status: RunStatus }[] {
    return [...this.runs.values()].filter((r) => r.outside).map(({ id, uri, config, status }) => ({ id, uri, config, status }));
  }

  /** Where a folder added with Watch Run Folder... is read, by its id; undefined for any other id. */
  folderOf(id: string): RunFolderRef | undefined {
    const run = this.runs.get(id);
    return run?.outside ? run.folder : undefined;
  }

  /** The remembered folders' URIs (as stored). */
  remembered(): string[] {
    const saved = this.memory?.get<unknown>(MEMORY_KEY);
    return Array.isArray(saved) ? saved.filter((u): u is string => typeof u === 'string') : [];
  }

  private async remember(): Promise<void> {
    await this.memory?.update(MEMORY_KEY, [...this.runs.values()].filter((r) => r.outside).map((r) => r.uri.toString()));
  }

  /** Watches the remembered folders again; one that is gone or no run folder is dropped, with a log line. */
  private async restore(): Promise<void> {
    const saved = this.remembered();
    if (!saved.length) return;
    for (const text of saved) {
      let uri: vscode.Uri;
      try {
        uri = vscode.Uri.parse(text, true);
      } catch {
        this.log(`watched folder ${text.slice(0, 200)} dropped: not a URI`);
        continue;
      }
      const added = await this.add(uri);
      if ('problem' in added) this.log(`watched folder ${uri.fsPath || uri.toString()} dropped: ${added.problem}`);
    }
    await this.remember();
  }

  /** Watches a folder outside the run store and remembers it; returns its id (a panel's run id), or an error line. */
  async addFolder(uri: vscode.Uri): Promise<{ id: string } | { problem: string }> {
    await this.restored;
    const added = await this.add(uri);
    if ('id' in added) await this.remember();
    return added;
  }

  private async add(uri: vscode.Uri): Promise<{ id: string } | { problem: string }> {
    for (const r of this.runs.values()) if (r.uri.toString() === uri.toString()) return { id: r.id };
    if (!(await exists(vscode.Uri.joinPath(uri, runFiles.config))) && !(await exists(vscode.Uri.joinPath(uri, runFiles.metrics)))) {
      return (await exists(uri))
        ? { problem: `${uri.fsPath || uri.toString()} has no ${runFiles.config} or ${runFiles.metrics}: it is not an RNN Lab run folder (rnnlab_logger.py and train.py write one)` }
        : { problem: `${uri.fsPath || uri.toString()} does not exist (any more)` };
    }
    const base = safeRunName(uri.path.split('/').filter(Boolean).pop() ?? 'run');
    let id = `watched-${base}`;
    for (let k = 2; this.runs.has(id); k++) id = `watched-${base}-${k}`;
    // Read from the start at once: a folder the user points at is shown whole, running or not.
    const run = this.watch(id, uri, true);
    run.seen = true;
    run.config = await this.readJson<RunConfig>(run, runFiles.config);
    await this.read(run, Date.now(), true);
    // Shown as it is until it grows: a finished run with its summary's status, else stopped.
    run.status = (await this.readJson<RunSummary>(run, runFiles.summary))?.status ?? 'stopped';
    this.hub.endRun(id, run.status);
    this.changed.fire();
    return { id };
  }

  /**
   * Stops watching a folder added with Watch Run Folder... and forgets it (Stop Watching, or its
   * folder deleted); false for any other id.
   */
  async forget(id: string): Promise<boolean> {
    const run = this.runs.get(id);
    if (!run?.outside) return false;
    this.runs.delete(id);
    this.lastMetrics.delete(id);
    this.hub.forgetRun(id);
    await this.remember();
    this.changed.fire();
    return true;
  }

  private watch(id: string, uri: vscode.Uri, outside: boolean): Watched {
    const parent = vscode.Uri.joinPath(uri, '..');
    const dir = uri.path.split('/').filter(Boolean).pop() ?? '';
    const run: Watched = { id, uri, folder: { fs: workspaceRunFs(parent), dir }, json: workspaceRunFs(parent, MAX_JSON_BYTES), outside, cursors: {}, grewAt: 0, status: 'stopped', seen: false };
    this.runs.set(id, run);
    return run;
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
      this.watch(id, uri, false);
    }
  }

  /** A JSON file of the run; undefined while it is missing or torn (read again later), or refused (logged once). */
  private async readJson<T>(run: Watched, file: string): Promise<T | undefined> {
    const read = await readRunJson<T>(run.json, run.folder.dir, file);
    if ('value' in read) return read.value;
    if ('refused' in read && !this.refusedLogged.has(`${run.uri}/${file}`)) {
      this.refusedLogged.add(`${run.uri}/${file}`);
      this.log(`watched run ${run.id}: ${file} not read: ${read.refused}`);
    }
    return undefined;
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
    if (this.runs.get(run.id) !== run) return; // forgotten meanwhile
    const grew = grown.some(Boolean);
    const firstLook = !run.seen;
    run.seen = true;
    if (firstLook) return;
    // summary.json is looked for when the files did not grow: a finished writer stops growing them.
    // One older than the records read (a writer that went on in the same folder) ends nothing.
    const read = grew ? undefined : await this.readJson<RunSummary>(run, runFiles.summary);
    const summary = read && !(read.step < (this.lastMetrics.get(run.id)?.step ?? 0)) ? read : undefined;
    if (grew) {
      run.grewAt = now;
      if (run.status !== 'running' && !summary) {
        run.config ??= await this.readJson<RunConfig>(run, runFiles.config);
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
    const cursor = (run.cursors[file] ??= { chunk: 0, offset: 0, readAfter: 0 });
    let grew = false;
    for (;;) {
      const uri = vscode.Uri.joinPath(run.uri, jsonlChunkName(file, cursor.chunk));
      let stat: vscode.FileStat;
      try {
        stat = await vscode.workspace.fs.stat(uri);
      } catch {
        return grew;
      }
      if (!(stat.type & vscode.FileType.File)) {
        // A FIFO or device would block a read forever: never read, said once.
        if (!this.refusedLogged.has(uri.toString())) {
          this.refusedLogged.add(uri.toString());
          this.log(`watched run ${run.id}: ${jsonlChunkName(file, cursor.chunk)} is not a regular file; not read`);
        }
        return grew;
      }
      if (stat.size > cursor.offset) {
        if (run.seen && !fromStart) grew = true;
        if (!run.seen) cursor.offset = stat.size; // the first look only measures
        else {
          // Reading from the start takes the whole backlog now (a ranged read is at most MAX_READ_BYTES).
          let before: number;
          do {
            before = cursor.offset;
            await this.readLines(run, file, uri, stat.size, cursor, fromStart);
          } while (fromStart && cursor.offset < stat.size && cursor.offset > before);
        }
        return grew;
      }
      // A chunk that stopped growing may have been sealed: the next one, once it exists, is followed.
      if (!(await exists(vscode.Uri.joinPath(run.uri, jsonlChunkName(file, cursor.chunk + 1))))) return grew;
      cursor.chunk++;
      cursor.offset = 0;
      cursor.readAfter = 0;
    }
  }

  /**
   * The bytes of a records chunk past the cursor: a ranged read where the host can do one, else
   * the whole file (then not again before nextWholeRead); undefined when not read now.
   */
  private async newBytes(uri: vscode.Uri, size: number, cursor: Cursor, fromStart: boolean): Promise<{ bytes: Uint8Array; base: number } | undefined> {
    const length = Math.min(size - cursor.offset, MAX_READ_BYTES);
    const ranged = await rangedRead(uri, cursor.offset, length).catch(() => undefined);
    if (ranged) {
      this.reads.ranged++;
      return { bytes: ranged, base: cursor.offset };
    }
    const startedAt = Date.now();
    if (!fromStart && startedAt < cursor.readAfter) return undefined;
    this.reads.whole++;
    const bytes = await vscode.workspace.fs.readFile(uri).then((b) => b, () => undefined);
    cursor.readAfter = nextWholeRead(startedAt, Date.now() - startedAt);
    return bytes && { bytes, base: 0 };
  }

  /** Feeds the file's complete lines from the cursor on to the panels and moves the cursor past them. */
  private async readLines(run: Watched, file: string, uri: vscode.Uri, size: number, cursor: Cursor, fromStart: boolean): Promise<void> {
    const read = await this.newBytes(uri, size, cursor, fromStart);
    const lines = read && completeLines(read.bytes, read.base, cursor.offset);
    if (!lines) return;
    cursor.offset = lines.end;
    if (!this.hub.isLive(run.id)) {
      if (!fromStart && run.status !== 'running') return;
      this.hub.startRun(run.id, (run.config ??= await this.readJson<RunConfig>(run, runFiles.config)) ?? ({ name: run.id } as RunConfig));
    }
    if (file === runFiles.metrics) {
      const records = parseJsonLines<MetricsRecord>(lines.text, 'metrics');
      for (const record of records) this.hub.record({ type: 'metrics', runId: run.id, record });
      if (records.length) {
        this.lastMetrics.set(run.id, records[records.length - 1]);
        this.recorded.fire();
      }
    } else {
      for (const record of parseJsonLines<DiagnosticsRecord>(lines.text, 'diagnostics')) this.hub.record({ type: 'diagnostics', runId: run.id, record });
    }
  }

  dispose(): void {
    clearInterval(this.timer);
    this.changed.dispose();
    this.recorded.dispose();
  }
}
