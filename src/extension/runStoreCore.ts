/**
 * The run store's logic without vscode: run ids, the folder layout, atomic writes, tolerant JSONL
 * reading and how a run's status is derived. It works over a small file-system interface with
 * paths relative to the store root, so the extension plugs in vscode.workspace.fs (web and
 * desktop hosts) and the unit tests plug in node:fs on a temp dir.
 */
import type { MetricsRecord, RunConfig, RunStatus, RunSummary } from '../protocol/config';
import { jsonlChunkName, parseJsonl } from '../protocol/jsonl';

export { parseJsonl, type ParsedJsonl } from '../protocol/jsonl';

/** File operations on paths relative to the run store's root ('' is the root itself). */
export interface RunFs {
  readFile(path: string): Promise<Uint8Array>;
  writeFile(path: string, data: Uint8Array): Promise<void>;
  /** Replaces `to` if it exists. */
  rename(from: string, to: string): Promise<void>;
  /** Creates the folder and its parents. */
  createDirectory(path: string): Promise<void>;
  /** Entries of a folder; rejects if it does not exist. */
  readDirectory(path: string): Promise<[name: string, isDirectory: boolean][]>;
  exists(path: string): Promise<boolean>;
}

export const runFiles = {
  config: 'config.json',
  metrics: 'metrics.jsonl',
  diagnostics: 'diagnostics.jsonl',
  checkpoint: 'checkpoint.safetensors',
  summary: 'summary.json',
} as const;

/** Why a run without summary.json is 'stopped': its window closed (or crashed) while it trained. */
export const interruptedMessage = 'interrupted: the window closed while it trained; its records up to then are kept';

/** `YYYYMMDD-HHMMSS` in UTC, as the CLI names its runs. */
export function runStamp(now: Date): string {
  return now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
}

/** A run name made safe for a folder name (no separators, no dots-only names). */
export function safeRunName(name: string): string {
  const safe = name.replace(/[^\w.-]+/g, '_').replace(/^\.+/, '');
  return safe || 'run';
}

/**
 * `<stamp>-<name>`, or `<stamp>-<name>-2`, `-3`, ... when that id is taken: a run is never
 * written into another run's folder.
 */
export async function newRunId(now: Date, name: string, taken: (id: string) => boolean | Promise<boolean>): Promise<string> {
  const base = `${runStamp(now)}-${safeRunName(name)}`;
  let id = base;
  for (let i = 2; await taken(id); i++) id = `${base}-${i}`;
  return id;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Writes `<path>.tmp` and renames it over `path`: a reader never sees half a file under the real name. */
export async function writeAtomic(fs: RunFs, path: string, data: string | Uint8Array): Promise<void> {
  const bytes = typeof data === 'string' ? encoder.encode(data) : data;
  const tmp = `${path}.tmp`;
  await fs.writeFile(tmp, bytes);
  await fs.rename(tmp, path);
}

/** Creates the run folder and its config.json; returns the id. */
export async function createRun(fs: RunFs, config: RunConfig, now: Date, reserved: (id: string) => boolean = () => false): Promise<string> {
  const id = await newRunId(now, config.name, async (candidate) => reserved(candidate) || (await fs.exists(candidate)));
  await fs.createDirectory(id);
  await writeAtomic(fs, `${id}/${runFiles.config}`, JSON.stringify(config, null, 2) + '\n');
  return id;
}


/**
 * Characters per JSONL chunk before the extension starts the next one: about 1 MB. Every flush
 * joins and encodes the current chunk whole (workspace.fs has no append); with 4 MB chunks that
 * held the web extension host for up to 43 ms (hostWork's 'run store flush'), with 1 MB 5-38 ms.
 */
export const JSONL_CHUNK_CHARS = 1_000_000;

/**
 * One JSONL file of an open run, kept in memory as chunks (see jsonlChunkName). workspace.fs has
 * no append, so every flush rewrites a file whole; sealing a chunk once it is full keeps each
 * rewrite, and the pause it costs the extension host, bounded however long the run grows (a
 * single 80 MB file took ~100 ms to encode per flush).
 */
export class JsonlChunks {
  private current = '';
  private index = 0;
  /** Full chunks not yet known to be on disk: every flush writes them until one succeeds. */
  private sealed: [name: string, text: string][] = [];

  constructor(
    readonly file: string,
    readonly chunkChars = JSONL_CHUNK_CHARS,
  ) {}

  add(line: string): void {
    if (this.current.length > 0 && this.current.length + line.length > this.chunkChars) {
      this.sealed.push([jsonlChunkName(this.file, this.index), this.current]);
      this.index++;
      this.current = '';
    }
    this.current += line;
  }

  /** The writes a flush makes: each sealed chunk not yet on disk, then the current chunk. */
  writes(): [name: string, text: string][] {
    return [...this.sealed, [jsonlChunkName(this.file, this.index), this.current]];
  }

  /** After `writes` all landed: the sealed chunks among them are on disk for good. */
  written(writes: [string, string][]): void {
    this.sealed = this.sealed.filter((s) => !writes.includes(s));
  }
}

/**
 * The records of the last chunk of a run's JSONL file that holds any (see jsonlChunkName): all an
 * interrupted run's summary needs is its last record, so a long run is not parsed whole for it.
 */
async function lastChunkRecords(fs: RunFs, id: string, file: string): Promise<MetricsRecord[]> {
  let chunks = 0;
  while (await fs.exists(`${id}/${jsonlChunkName(file, chunks)}`)) chunks++;
  for (let i = chunks - 1; i >= 0; i--) {
    try {
      const records = parseJsonl<MetricsRecord>(decoder.decode(await fs.readFile(`${id}/${jsonlChunkName(file, i)}`))).records;
      if (records.length) return records;
    } catch {
      // unreadable: try the chunk before
    }
  }
  return [];
}


/**
 * What a run folder says about its run. `open`: it trains in this window. Otherwise summary.json
 * decides; without one the run was interrupted (window closed, host crashed) and is 'stopped',
 * and its summary is rebuilt from the last metrics record so step and loss still show.
 */
export function deriveSummary(open: boolean, stored: RunSummary | undefined, metrics: readonly MetricsRecord[]): { status: RunStatus; summary?: RunSummary } {
  if (open) return { status: 'running' };
  if (stored && typeof stored.status === 'string') return { status: stored.status, summary: stored };
  const last = metrics.at(-1);
  const summary: RunSummary = { status: 'stopped', step: last?.step ?? 0, message: interruptedMessage };
  if (last) {
    summary.loss = last.loss;
    if (last.bpc !== undefined) summary.bpc = last.bpc;
  }
  return { status: 'stopped', summary };
}

export interface ListedRun {
  id: string;
  config: RunConfig;
  status: RunStatus;
  summary?: RunSummary;
}

async function readJson<T>(fs: RunFs, path: string): Promise<T | undefined> {
  try {
    return JSON.parse(decoder.decode(await fs.readFile(path))) as T;
  } catch {
    return undefined;
  }
}

/**
 * Every run folder under the root (a folder with a readable config.json), newest first. Reads
 * only; an interrupted run's files are left exactly as they are. `interrupted` caches the summaries
 * rebuilt from interrupted runs' metrics, so a refresh does not parse their (possibly large) files again.
 */
export async function listRuns(fs: RunFs, isOpen: (id: string) => boolean, interrupted?: Map<string, RunSummary>): Promise<ListedRun[]> {
  let entries: [string, boolean][];
  try {
    entries = await fs.readDirectory('');
  } catch {
    return [];
  }
  // The folders are read in parallel: in a remote host (code-server) every read is a round trip
  // through the browser, and a refresh reads two files per run.
  const listed = await Promise.all(
    entries.map(async ([id, isDirectory]): Promise<ListedRun | undefined> => {
      if (!isDirectory) return undefined;
      const config = await readJson<RunConfig>(fs, `${id}/${runFiles.config}`);
      if (!config || typeof config !== 'object') return undefined;
      const open = isOpen(id);
      const stored = open ? undefined : await readJson<RunSummary>(fs, `${id}/${runFiles.summary}`);
      const cached = !open && !stored ? interrupted?.get(id) : undefined;
      if (cached) return { id, config, status: cached.status, summary: cached };
      const metrics = !open && !stored ? await lastChunkRecords(fs, id, runFiles.metrics) : [];
      const derived = deriveSummary(open, stored, metrics);
      if (!open && !stored && derived.summary) interrupted?.set(id, derived.summary);
      return { id, config, ...derived };
    }),
  );
  const runs = listed.filter((r): r is ListedRun => r !== undefined);
  return runs.sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
}
