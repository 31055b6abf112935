import * as vscode from 'vscode';
import { timed } from './hostWork';
import type { DiagnosticsRecord, MetricsRecord, RunConfig, RunStatus, RunSummary } from '../protocol/config';
import { createRun, JsonlChunks, listRuns, writeAtomic as writeAtomicIn, type RunFs } from './runStoreCore';

/**
 * The run store, over vscode.workspace.fs only (works in the web and desktop hosts). Mirrors the
 * CLI's layout (src/cli/runDir.ts): `<root>/<YYYYMMDD-HHMMSS>-<name>/` with config.json,
 * metrics.jsonl, diagnostics.jsonl, checkpoint.safetensors and summary.json.
 *
 * workspace.fs has no append: each open run keeps its JSONL files' lines in memory and rewrites
 * them on a flush (every ~500 ms and at the end), in chunks of a few MB (metrics.jsonl,
 * metrics.2.jsonl, ...) so that no rewrite grows with the run (runStoreCore's JsonlChunks).
 * The logic that needs no vscode (ids, layout, tolerant reading, status) is in runStoreCore.ts.
 */

export interface StoredRun {
  id: string;
  uri: vscode.Uri;
  config?: RunConfig;
  summary?: RunSummary;
  status: RunStatus;
  /** Last metrics record seen (live runs only). */
  last?: MetricsRecord;
}

const flushEveryMs = 500;

type JsonlFile = 'metrics.jsonl' | 'diagnostics.jsonl';

class OpenRun {
  /** Each file's text so far, in chunks: appending to a string is cheap, a join of every line per flush is not. */
  private readonly chunks: Record<JsonlFile, JsonlChunks> = { 'metrics.jsonl': new JsonlChunks('metrics.jsonl'), 'diagnostics.jsonl': new JsonlChunks('diagnostics.jsonl') };
  private dirty = new Set<JsonlFile>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** The last write started or queued; writes run one after another so an older content never lands last. */
  private writing: Promise<void> = Promise.resolve();
  /** A write queued behind `writing` and not started yet: later flushes join it instead of queueing more. */
  private queued: Promise<void> | undefined;
  /** How long the last flush took: each flush rewrites whole files, so a long run flushes less often. */
  private lastFlushMs = 0;
  last?: MetricsRecord;

  constructor(
    readonly id: string,
    readonly uri: vscode.Uri,
    readonly config: RunConfig,
  ) {}

  add(file: JsonlFile, record: unknown): void {
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
   * records come (a loaded machine), flushes coalesce into one queued write instead of piling up
   * whole-file rewrites, which is what made a stop wait for a backlog of them.
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
        const results = await Promise.allSettled(list.map(([name, bytes]) => vscode.workspace.fs.writeFile(vscode.Uri.joinPath(this.uri, name), bytes)));
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

  private readonly fs: RunFs;
  /** Summaries rebuilt from interrupted runs' metrics (such a run's files no longer change). */
  private readonly interrupted = new Map<string, RunSummary>();

  constructor(readonly root: vscode.Uri) {
    this.fs = workspaceRunFs(root);
  }

  /** `<workspace folder>/.rnn-lab/runs`, or the extension's global storage with no folder open. */
  static forWorkspace(context: vscode.ExtensionContext): RunStore {
    const folder = vscode.workspace.workspaceFolders?.[0];
    const global = vscode.workspace.getConfiguration('rnnLab').get<string>('runStoreLocation') === 'global';
    const base = folder && !global ? vscode.Uri.joinPath(folder.uri, '.rnn-lab') : context.globalStorageUri;
    return new RunStore(vscode.Uri.joinPath(base, 'runs'));
  }

  /** Creates a new run folder (never reuses one) and writes config.json. Returns the run id. */
  async create(config: RunConfig): Promise<string> {
    const id = await createRun(this.fs, config, new Date(), (candidate) => this.open.has(candidate));
    this.open.set(id, new OpenRun(id, this.runUri(id), config));
    this.changed.fire();
    return id;
  }

  runUri(id: string): vscode.Uri {
    return vscode.Uri.joinPath(this.root, id);
  }

  isOpen(id: string): boolean {
    return this.open.has(id);
  }

  appendMetrics(id: string, record: MetricsRecord): void {
    const run = this.open.get(id);
    if (!run) return;
    run.last = record;
    run.add('metrics.jsonl', record);
  }

  appendDiagnostics(id: string, record: DiagnosticsRecord): void {
    this.open.get(id)?.add('diagnostics.jsonl', record);
  }

  /**
   * The checkpoint, and the resume state of the same step before it: a window closed between the
   * two leaves a resume file one checkpoint ahead, which resume refuses by its step (never a
   * silently wrong resume).
   */
  async writeCheckpoint(id: string, bytes: Uint8Array, resumeState?: Uint8Array): Promise<void> {
    if (resumeState) await writeAtomicIn(this.fs, `${id}/resume.safetensors`, resumeState);
    await writeAtomicIn(this.fs, `${id}/checkpoint.safetensors`, bytes);
  }

  /**
   * Flushes the records, writes summary.json and closes the run. summary.json lands last (its
   * rename waits for the flush), so a reader that sees it sees every record; its temp file is
   * written alongside the flush to save a round trip in remote hosts.
   */
  async finish(id: string, summary: RunSummary): Promise<void> {
    const run = this.open.get(id);
    const path = `${id}/summary.json`;
    await Promise.all([run?.flush(), this.fs.writeFile(`${path}.tmp`, new TextEncoder().encode(JSON.stringify(summary, null, 2) + '\n'))]);
    await this.fs.rename(`${path}.tmp`, path);
    this.open.delete(id);
    this.changed.fire();
  }

  /**
   * Every run folder, newest first. A folder with config.json but no summary is 'stopped' (its
   * window closed while it trained) unless it trains in this window; its files are left as they are.
   */
  async list(): Promise<StoredRun[]> {
    const runs = await listRuns(this.fs, (id) => this.open.has(id), this.interrupted);
    return runs.map((r) => ({ ...r, uri: this.runUri(r.id), last: this.open.get(r.id)?.last }));
  }
}

/** vscode.workspace.fs under `root`, for the run store's vscode-free logic. */
function workspaceRunFs(root: vscode.Uri): RunFs {
  const at = (path: string): vscode.Uri => (path ? vscode.Uri.joinPath(root, ...path.split('/')) : root);
  return {
    readFile: async (path) => vscode.workspace.fs.readFile(at(path)),
    writeFile: async (path, data) => vscode.workspace.fs.writeFile(at(path), data),
    rename: async (from, to) => vscode.workspace.fs.rename(at(from), at(to), { overwrite: true }),
    createDirectory: async (path) => vscode.workspace.fs.createDirectory(at(path)),
    readDirectory: async (path) => (await vscode.workspace.fs.readDirectory(at(path))).map(([name, type]) => [name, (type & vscode.FileType.Directory) !== 0]),
    exists: (path) => exists(at(path)),
  };
}

export async function exists(uri: vscode.Uri): Promise<boolean> {
  try {
    await vscode.workspace.fs.stat(uri);
    return true;
  } catch {
    return false;
  }
}
