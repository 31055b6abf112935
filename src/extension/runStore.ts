import * as vscode from 'vscode';
import { timed } from './hostWork';
import type { DiagnosticsRecord, MetricsRecord, RunConfig, RunStatus, RunSummary, Seq2SeqEvalRecord, SweepMember } from '../protocol/config';
import { chunkTemp, createRun, JsonlChunks, listRuns, runFiles, writeCheckpoint, writeSummary, writeSweepMember, type RecordsFile, type RunFs } from '../runFolder/runFolder';
import { readSettings } from './settings';
import { workspaceRunFs } from './workspaceRunFs';

/**
 * The extension's run store: the run folder layer (src/runFolder/runFolder.ts, shared with the
 * CLI) over vscode.workspace.fs, which works in the web and desktop hosts.
 *
 * workspace.fs has no append: each open run keeps its JSONL files' lines in memory and rewrites
 * them on a flush (every ~500 ms and at the end), in chunks of about 1 MB (metrics.jsonl,
 * metrics.2.jsonl, ...) so that no rewrite grows with the run (JsonlChunks).
 */

export interface StoredRun {
  id: string;
  uri: vscode.Uri;
  config?: RunConfig;
  summary?: RunSummary;
  status: RunStatus;
  /** The sweep the run belongs to (its sweep.json). */
  sweep?: SweepMember;
}

const flushEveryMs = 500;

class OpenRun {
  /** Each file's text so far, in chunks: appending to a string is cheap, a join of every line per flush is not. */
  private readonly chunks: Record<RecordsFile, JsonlChunks> = {
    [runFiles.metrics]: new JsonlChunks(runFiles.metrics),
    [runFiles.diagnostics]: new JsonlChunks(runFiles.diagnostics),
    [runFiles.eval]: new JsonlChunks(runFiles.eval),
  };
  private dirty = new Set<RecordsFile>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** The last write started or queued; writes run one after another so an older content never lands last. */
  private writing: Promise<void> = Promise.resolve();
  /** A write queued behind `writing` and not started yet: later flushes join it instead of queueing more. */
  private queued: Promise<void> | undefined;
  /** How long the last flush took: each flush rewrites whole files, so a long run flushes less often. */
  private lastFlushMs = 0;

  constructor(
    readonly id: string,
    readonly uri: vscode.Uri,
    readonly config: RunConfig,
  ) {}

  add(file: RecordsFile, record: unknown): void {
    this.chunks[file].add(JSON.stringify(record) + '\n');
    this.dirty.add(file);
    // Rewriting is O(file size): waiting 10x the last rewrite's time keeps the host's share of
    // time spent rewriting under ~10% however long the run grows.
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      void this.flush().catch(() => {
        // reported by the flush in finish(), which writes the same content again
      });
    }, Math.max(flushEveryMs, 10 * this.lastFlushMs));
  }

  /**
   * Writes the dirty files with everything added so far. When the disk is slower than the
   * records come (a loaded machine), flushes coalesce into one queued write, so a stop never
   * waits for a backlog of whole-file rewrites.
   */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.queued) return this.queued;
    const write = this.writing.then(async () => {
      this.queued = undefined;
      const files = [...this.dirty];
      this.dirty.clear();
      const t0 = Date.now();
      // The texts joined and encoded: the flush's synchronous work, timed (up to a chunk's ~1 MB).
      const encode = (list: (readonly [string, string])[]) => list.map(([name, text]) => [name, new TextEncoder().encode(text)] as const);
      const [writes, sealed] = timed('run store flush', () => {
        const w = files.map((file) => [file, this.chunks[file].writes()] as const);
        return [w, encode(w.flatMap(([, x]) => x.slice(0, -1)))] as const;
      });
      const put = async (list: (readonly [string, Uint8Array])[]) => {
        // Every write ends before the flush does (allSettled): a late write of this flush must
        // not land after the next flush's write of the same file.
        // Each chunk is written whole to its temp and renamed over itself (runFolder.ts chunkTemp):
        // a writeFile in place truncates first, and a window closed mid-write lost the chunk.
        const replace = async (name: string, bytes: Uint8Array) => {
          const temp = vscode.Uri.joinPath(this.uri, chunkTemp(name));
          await vscode.workspace.fs.writeFile(temp, bytes);
          await vscode.workspace.fs.rename(temp, vscode.Uri.joinPath(this.uri, name), { overwrite: true });
        };
        const results = await Promise.allSettled(list.map(([name, bytes]) => replace(name, bytes)));
        const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
        if (failed) throw failed.reason;
      };
      try {
        // Sealed chunks land before the current one: a window closed mid-flush never leaves a
        // later chunk on disk behind a missing or partial earlier one.
        await put(sealed);
        await put(timed('run store flush', () => encode(writes.map(([, w]) => w[w.length - 1]))));
      } catch (err) {
        for (const file of files) this.dirty.add(file); // the next flush writes them again
        throw err;
      }
      for (const [file, w] of writes) this.chunks[file].written(w);
      this.lastFlushMs = Date.now() - t0;
    });
    this.queued = write;
    this.writing = write.catch(() => {});
    return write;
  }
}

export class RunStore {
  private readonly open = new Map<string, OpenRun>();
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChange = this.changed.event;

  /** The store root as a RunFs, for the run folder layer's functions. */
  readonly fs: RunFs;
  /** Summaries rebuilt from interrupted runs' metrics (such a run's files no longer change). */
  private readonly interrupted = new Map<string, RunSummary>();

  constructor(readonly root: vscode.Uri) {
    this.fs = workspaceRunFs(root);
  }

  /** `<workspace folder>/.rnn-lab/runs`, or the extension's global storage with no folder open (or by setting). */
  static forWorkspace(context: vscode.ExtensionContext): RunStore {
    const folder = vscode.workspace.workspaceFolders?.[0];
    const base = folder && !readSettings().globalRunStore ? vscode.Uri.joinPath(folder.uri, '.rnn-lab') : context.globalStorageUri;
    return new RunStore(vscode.Uri.joinPath(base, 'runs'));
  }

  /** Creates a new run folder (never reuses one) and writes config.json (and a sweep run's sweep.json). Returns the run id. */
  async create(config: RunConfig, sweep?: SweepMember): Promise<string> {
    const id = await createRun(this.fs, config, new Date(), (candidate) => this.open.has(candidate));
    this.open.set(id, new OpenRun(id, this.runUri(id), config));
    if (sweep) await writeSweepMember(this.fs, id, sweep);
    this.changed.fire();
    return id;
  }

  runUri(id: string): vscode.Uri {
    return vscode.Uri.joinPath(this.root, id);
  }

  isOpen(id: string): boolean {
    return this.open.has(id);
  }

  /** Runs of the store another process writes now (WatchedRuns): listed as running. */
  private readonly external = new Set<string>();

  setExternallyRunning(id: string, running: boolean): void {
    if (running) this.external.add(id);
    else this.external.delete(id);
    // Its files changed: a summary rebuilt from them before is out of date.
    this.interrupted.delete(id);
    this.changed.fire();
  }

  appendMetrics(id: string, record: MetricsRecord): void {
    this.open.get(id)?.add(runFiles.metrics, record);
  }

  appendDiagnostics(id: string, record: DiagnosticsRecord): void {
    this.open.get(id)?.add(runFiles.diagnostics, record);
  }

  appendEval(id: string, record: Seq2SeqEvalRecord): void {
    this.open.get(id)?.add(runFiles.eval, record);
  }

  /**
   * Writes a checkpoint generation after flushing the run's records, so the records on disk always
   * reach the newest checkpoint's step (the worker sends a step's records before its checkpoint).
   */
  async writeCheckpoint(id: string, bytes: Uint8Array, resumeState?: Uint8Array): Promise<void> {
    // A failed flush is written again by the next one and reported at the end; the model goes first.
    await this.open.get(id)?.flush().catch(() => {});
    await writeCheckpoint(this.fs, id, bytes, resumeState);
  }

  /** Flushes the records, writes summary.json after them and closes the run. */
  async finish(id: string, summary: RunSummary): Promise<void> {
    await writeSummary(this.fs, id, summary, this.open.get(id)?.flush());
    this.open.delete(id);
    this.changed.fire();
  }

  /**
   * Every run folder, newest first. A folder with config.json but no summary is 'stopped' (its
   * window closed while it trained) unless it trains in this window; its files are left as they are.
   */
  async list(): Promise<StoredRun[]> {
    const runs = await listRuns(this.fs, (id) => this.open.has(id) || this.external.has(id), this.interrupted);
    return runs.map((r) => ({ ...r, uri: this.runUri(r.id) }));
  }
}
