import * as vscode from 'vscode';
import type { DiagnosticsRecord, MetricsRecord, RunConfig, RunStatus, RunSummary } from '../protocol';

/**
 * The run store, over vscode.workspace.fs only (works in the web and desktop hosts). Mirrors the
 * CLI's layout (src/cli/runDir.ts): `<root>/<YYYYMMDD-HHMMSS>-<name>/` with config.json,
 * metrics.jsonl, diagnostics.jsonl, checkpoint.safetensors and summary.json.
 *
 * workspace.fs has no append: each open run keeps its JSONL files' lines in memory and rewrites
 * the whole file on a flush (every ~500 ms and at the end). Fine for runs of thousands of
 * records; a very long run would want chunked files (metrics-0001.jsonl, ...) instead.
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

class OpenRun {
  readonly lines: Record<'metrics.jsonl' | 'diagnostics.jsonl', string[]> = { 'metrics.jsonl': [], 'diagnostics.jsonl': [] };
  private dirty = new Set<'metrics.jsonl' | 'diagnostics.jsonl'>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private writing: Promise<void> = Promise.resolve();
  /** How long the last flush took: each flush rewrites whole files, so a long run flushes less often. */
  private lastFlushMs = 0;
  last?: MetricsRecord;

  constructor(
    readonly id: string,
    readonly uri: vscode.Uri,
    readonly config: RunConfig,
  ) {}

  add(file: 'metrics.jsonl' | 'diagnostics.jsonl', record: unknown): void {
    this.lines[file].push(JSON.stringify(record));
    this.dirty.add(file);
    // Rewriting is O(file size): waiting 10x the last rewrite's time keeps the host's share of
    // time spent rewriting under ~10% however long the run grows.
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, Math.max(flushEveryMs, 10 * this.lastFlushMs));
  }

  /** Writes the dirty files; writes are serialised so an older content never lands last. */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const files = [...this.dirty];
    this.dirty.clear();
    this.writing = this.writing.then(async () => {
      const t0 = Date.now();
      for (const file of files) {
        const text = this.lines[file].join('\n') + '\n';
        await vscode.workspace.fs.writeFile(vscode.Uri.joinPath(this.uri, file), new TextEncoder().encode(text));
      }
      this.lastFlushMs = Date.now() - t0;
    });
    return this.writing;
  }
}

export class RunStore {
  private readonly open = new Map<string, OpenRun>();
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChange = this.changed.event;

  constructor(readonly root: vscode.Uri) {}

  /** `<workspace folder>/.rnn-lab/runs`, or the extension's global storage with no folder open. */
  static forWorkspace(context: vscode.ExtensionContext): RunStore {
    const folder = vscode.workspace.workspaceFolders?.[0];
    const global = vscode.workspace.getConfiguration('rnnLab').get<string>('runStoreLocation') === 'global';
    const base = folder && !global ? vscode.Uri.joinPath(folder.uri, '.rnn-lab') : context.globalStorageUri;
    return new RunStore(vscode.Uri.joinPath(base, 'runs'));
  }

  /** Creates a new run folder (never reuses one) and writes config.json. Returns the run id. */
  async create(config: RunConfig): Promise<string> {
    const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
    const safe = config.name.replace(/[^\w.-]+/g, '_') || 'run';
    let id = `${stamp}-${safe}`;
    for (let i = 2; this.open.has(id) || (await exists(vscode.Uri.joinPath(this.root, id))); i++) id = `${stamp}-${safe}-${i}`;
    const uri = vscode.Uri.joinPath(this.root, id);
    await vscode.workspace.fs.createDirectory(uri);
    await writeAtomic(vscode.Uri.joinPath(uri, 'config.json'), JSON.stringify(config, null, 2) + '\n');
    this.open.set(id, new OpenRun(id, uri, config));
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

  async writeCheckpoint(id: string, bytes: Uint8Array): Promise<void> {
    await writeAtomic(vscode.Uri.joinPath(this.runUri(id), 'checkpoint.safetensors'), bytes);
  }

  /** Flushes the records, writes summary.json and closes the run. */
  async finish(id: string, summary: RunSummary): Promise<void> {
    const run = this.open.get(id);
    if (run) await run.flush();
    await writeAtomic(vscode.Uri.joinPath(this.runUri(id), 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
    this.open.delete(id);
    this.changed.fire();
  }

  /** Every run folder, newest first. A folder with config.json but no summary is 'stopped' unless it trains in this window. */
  async list(): Promise<StoredRun[]> {
    let entries: [string, vscode.FileType][];
    try {
      entries = await vscode.workspace.fs.readDirectory(this.root);
    } catch {
      return [];
    }
    const runs: StoredRun[] = [];
    for (const [name, type] of entries) {
      if (type !== vscode.FileType.Directory) continue;
      const uri = vscode.Uri.joinPath(this.root, name);
      const config = await readJson<RunConfig>(vscode.Uri.joinPath(uri, 'config.json'));
      if (!config) continue;
      const open = this.open.get(name);
      const summary = open ? undefined : await readJson<RunSummary>(vscode.Uri.joinPath(uri, 'summary.json'));
      const status: RunStatus = open ? 'running' : (summary?.status ?? 'stopped');
      runs.push({ id: name, uri, config, summary, status, last: open?.last });
    }
    return runs.sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
  }
}

async function writeAtomic(uri: vscode.Uri, data: string | Uint8Array): Promise<void> {
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  const tmp = uri.with({ path: `${uri.path}.tmp` });
  await vscode.workspace.fs.writeFile(tmp, bytes);
  await vscode.workspace.fs.rename(tmp, uri, { overwrite: true });
}

export async function exists(uri: vscode.Uri): Promise<boolean> {
  try {
    await vscode.workspace.fs.stat(uri);
    return true;
  } catch {
    return false;
  }
}

async function readJson<T>(uri: vscode.Uri): Promise<T | undefined> {
  try {
    return JSON.parse(new TextDecoder().decode(await vscode.workspace.fs.readFile(uri))) as T;
  } catch {
    return undefined;
  }
}
