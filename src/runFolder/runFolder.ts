/**
 * A run folder, read and written the same way by the extension, the panels and the CLI:
 *   <root>/<YYYYMMDD-HHMMSS>-<name>/  config.json, metrics.jsonl, diagnostics.jsonl (possibly in
 *   chunks, see jsonlChunkName), checkpoint.safetensors, resume.safetensors, summary.json, and
 *   import.json for imported runs.
 * Neither vscode nor node: it works over RunFs, a small file interface with paths relative to the
 * store root, so the extension plugs in vscode.workspace.fs (web and desktop hosts), the CLI and
 * the unit tests node:fs (src/runFolder/nodeRunFs.ts).
 *
 * Invariants: a run id is never reused (newRunId); config.json, checkpoint.safetensors,
 * resume.safetensors and summary.json are only ever replaced whole (writeAtomic); summary.json is
 * the last file a finished run writes, so a folder without it is a run that trains or was cut off.
 */
import type { DiagnosticsRecord, MetricsRecord, RunConfig, RunStatus, RunSummary, SweepMember } from '../protocol/config';
import { RESUME_FILE } from '../engine/resume';
import { jsonlChunkName, parseJsonl, type ParsedJsonl } from '../protocol/jsonl';
import { storedGenerationStep, writeGeneration, type GenerationStage } from './generation';

/** File operations on paths relative to the run store's root ('' is the root itself). */
export interface RunFs {
  readFile(path: string): Promise<Uint8Array>;
  writeFile(path: string, data: Uint8Array): Promise<void>;
  /**
   * Appends to a file, creating it. Only where the file system can append (node:fs, the CLI);
   * workspace.fs cannot, so the extension rewrites JSONL chunks whole (JsonlChunks).
   */
  appendFile?(path: string, data: Uint8Array): Promise<void>;
  /** Replaces `to` if it exists (a folder only if it is empty). */
  rename(from: string, to: string): Promise<void>;
  /** Creates the folder and its parents. */
  createDirectory(path: string): Promise<void>;
  /** Entries of a folder; rejects if it does not exist. */
  readDirectory(path: string): Promise<[name: string, isDirectory: boolean][]>;
  exists(path: string): Promise<boolean>;
  /** Deletes a file, or a folder with everything in it; no error if it is missing. */
  delete(path: string): Promise<void>;
  /**
   * Flushes a file's (or a folder's) contents to the disk. Absent where the platform has no such
   * call: vscode.workspace.fs has none, so there a checkpoint generation is atomic against a
   * killed writer or a closed window but not against a power cut.
   */
  fsync?(path: string): Promise<void>;
}

/** The file names of a run folder: every reader and writer takes them from here. */
export const runFiles = {
  config: 'config.json',
  metrics: 'metrics.jsonl',
  diagnostics: 'diagnostics.jsonl',
  /** Seq2seq runs: the held-out evaluation records (Seq2SeqEvalRecord). */
  eval: 'eval.jsonl',
  checkpoint: 'checkpoint.safetensors',
  /** Optimizer moments, RNG and data position of the checkpoint's step (engine/resume.ts). */
  resume: RESUME_FILE,
  summary: 'summary.json',
  /** Imported runs: where the weights came from and what was guessed. */
  import: 'import.json',
  /** Held by the CLI process training the run (src/cli/writerLock.ts); absent when none does. */
  writerLock: 'writer.lock',
  /** Runs of a sweep: the sweep's id, name, size and this run's values (SweepMember). */
  sweep: 'sweep.json',
} as const;

export type RecordsFile = typeof runFiles.metrics | typeof runFiles.diagnostics | typeof runFiles.eval;

/** `<id>/<file>`: the path of a run's file relative to the store root. */
export function runPath(id: string, file: string): string {
  return `${id}/${file}`;
}

/** Why a run without summary.json is 'stopped': its window closed (or crashed) while it trained. */
export const interruptedMessage = 'interrupted: the window closed while it trained; its records up to then are kept, and Resume Run continues it from its last checkpoint';

/** `YYYYMMDD-HHMMSS` in UTC. */
export function runStamp(now: Date): string {
  return now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
}

/** A run name made safe for a folder name (no separators, no dots-only names). */
export function safeRunName(name: string): string {
  const safe = name.replace(/[^\w.-]+/g, '_').replace(/^\.+/, '');
  return safe || 'run';
}

/**
 * `<stamp>-<safe name>`, or `<stamp>-<safe name>-2`, `-3`, ... when that id is taken: a run is
 * never written into another run's folder, and every candidate is a safe folder name.
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

const json = (value: unknown): string => JSON.stringify(value, null, 2) + '\n';

/** A new run id under the root: neither a folder there nor `reserved` (runs being created in this process). */
export function freeRunId(fs: RunFs, name: string, now: Date, reserved: (id: string) => boolean = () => false): Promise<string> {
  return newRunId(now, name, async (candidate) => reserved(candidate) || (await fs.exists(candidate)));
}

/** Creates a new run folder and its config.json; returns the id. */
export async function createRun(fs: RunFs, config: RunConfig, now: Date, reserved?: (id: string) => boolean): Promise<string> {
  const id = await freeRunId(fs, config.name, now, reserved);
  await createRunAt(fs, id, config);
  return id;
}

/**
 * Creates the run folder `id` (the CLI's --out) with its config.json. Returns false, writing
 * nothing, when that folder already holds a run: a run is never overwritten.
 */
export async function createRunAt(fs: RunFs, id: string, config: RunConfig): Promise<boolean> {
  if (await fs.exists(runPath(id, runFiles.config))) return false;
  await fs.createDirectory(id);
  await writeConfig(fs, id, config);
  return true;
}

export function writeConfig(fs: RunFs, id: string, config: RunConfig): Promise<void> {
  return writeAtomic(fs, runPath(id, runFiles.config), json(config));
}

/** Records that run `id` belongs to a sweep (written once, beside config.json, before it trains). */
export function writeSweepMember(fs: RunFs, id: string, member: SweepMember): Promise<void> {
  return writeAtomic(fs, runPath(id, runFiles.sweep), json(member));
}

/** A sweep.json as the views read it, or undefined when it is missing or not one (the run is then listed on its own). */
export function asSweepMember(m: unknown): SweepMember | undefined {
  if (typeof m !== 'object' || m === null || Array.isArray(m)) return undefined;
  const r = m as Record<string, unknown>;
  const values = r.values;
  const ok =
    typeof r.id === 'string' && typeof r.name === 'string' && Number.isInteger(r.index) && Number.isInteger(r.total) && (r.total as number) > 0 &&
    typeof values === 'object' && values !== null && !Array.isArray(values) && Object.values(values).every((v) => typeof v === 'string' || typeof v === 'number');
  if (!ok) return undefined;
  // The sweep config is kept only as an object: Continue Sweep validates it before any use.
  const source = r.source;
  if (source === undefined || (typeof source === 'object' && source !== null && !Array.isArray(source))) return m as SweepMember;
  const { source: _dropped, ...member } = r;
  return member as unknown as SweepMember;
}

/**
 * The one way a checkpoint is written. With its resume state (engine/resume.ts, which holds the
 * weights too): one generation, committed by renaming the resume file (generation.ts, which says
 * why every instant leaves a whole generation). Without (a run that keeps no resume state): the
 * model alone, atomically.
 */
export async function writeCheckpoint(fs: RunFs, id: string, modelBytes: Uint8Array, resumeBytes?: Uint8Array, pause?: (stage: GenerationStage) => Promise<void>): Promise<void> {
  if (resumeBytes) await writeGeneration(fs, id, { model: modelBytes, state: resumeBytes }, pause);
  else await writeAtomic(fs, runPath(id, runFiles.checkpoint), modelBytes);
}

/**
 * summary.json, written last: its rename waits for `recordsWritten` (the run's last records
 * flush), so a reader that sees it sees every record. The temp file is written alongside that
 * flush, which saves a round trip in remote hosts.
 */
export async function writeSummary(fs: RunFs, id: string, summary: RunSummary, recordsWritten?: Promise<unknown>): Promise<void> {
  const path = runPath(id, runFiles.summary);
  await Promise.all([recordsWritten, fs.writeFile(`${path}.tmp`, encoder.encode(json(summary)))]);
  await fs.rename(`${path}.tmp`, path);
}

/**
 * A whole run folder at once (an import): the files go into a hidden sibling folder (the store
 * lists only folders with a config.json) renamed to `id`, so the run appears complete or not at
 * all. Returns false, writing nothing, when `id` exists and is not empty.
 */
export async function writeRunWhole(fs: RunFs, id: string, files: Record<string, string | Uint8Array>): Promise<boolean> {
  if ((await fs.exists(id)) && (await fs.readDirectory(id)).length > 0) return false;
  const slash = id.lastIndexOf('/');
  const tmp = `${id.slice(0, slash + 1)}.${id.slice(slash + 1)}.writing`;
  await fs.delete(tmp);
  try {
    await fs.createDirectory(tmp);
    // config.json last: a folder is a run once it has one.
    const names = Object.keys(files).sort((a, b) => Number(a === runFiles.config) - Number(b === runFiles.config));
    for (const name of names) {
      const data = files[name];
      await fs.writeFile(runPath(tmp, name), typeof data === 'string' ? encoder.encode(data) : data);
    }
    await fs.rename(tmp, id);
  } catch (e) {
    await fs.delete(tmp).catch(() => undefined);
    throw e;
  }
  return true;
}

/** An imported run's folder (engine/interop.ts importAsRun makes `run`): no metrics, one diagnostics record. */
export function importedRunFiles(
  run: { config: RunConfig; checkpoint: Uint8Array; diagnostics: DiagnosticsRecord; summary: RunSummary; description: string; warnings: string[] },
  source: string,
): Record<string, string | Uint8Array> {
  return {
    [runFiles.config]: json(run.config),
    [runFiles.checkpoint]: run.checkpoint,
    [runFiles.diagnostics]: JSON.stringify(run.diagnostics) + '\n',
    [runFiles.summary]: json(run.summary),
    [runFiles.import]: json({ source, description: run.description, warnings: run.warnings }),
  };
}

/**
 * Where a flush puts a records chunk's new text before renaming it over the chunk. The rename
 * (workspace.fs deletes the target first) leaves a moment, and after a killed writer a lasting
 * state, where only this temp holds the chunk; it is then whole or torn in its last line, since it
 * is renamed only once written, so readers take it (readChunkText) and a resume renames it back.
 */
export const chunkTemp = (chunk: string): string => `${chunk}.tmp`;

/** The chunk files of a run's records file that exist (see jsonlChunkName), in order, up to the first one missing. */
export async function chunkNames(fs: RunFs, id: string, file: RecordsFile): Promise<string[]> {
  const names: string[] = [];
  const there = async (chunk: string) => (await fs.exists(runPath(id, chunk))) || (await fs.exists(runPath(id, chunkTemp(chunk))));
  while (await there(jsonlChunkName(file, names.length))) names.push(jsonlChunkName(file, names.length));
  return names;
}

/**
 * A records chunk's text: the chunk, or its flush's temp when the chunk is missing (see chunkTemp);
 * undefined when neither exists. A chunk that exists but cannot be read (a FIFO, too large) throws
 * the file system's error.
 */
export async function readChunkText(fs: RunFs, id: string, chunk: string): Promise<string | undefined> {
  const path = runPath(id, chunk);
  try {
    return decoder.decode(await fs.readFile(path));
  } catch (e) {
    if (await fs.exists(path)) throw e;
  }
  const temp = runPath(id, chunkTemp(chunk));
  return (await fs.exists(temp)) ? decoder.decode(await fs.readFile(temp)) : undefined;
}

/** A file of the run as text, or undefined when it cannot be read. */
export async function readText(fs: RunFs, path: string): Promise<string | undefined> {
  try {
    return decoder.decode(await fs.readFile(path));
  } catch {
    return undefined;
  }
}

/** A chunk of a records file, parsed tolerantly; `chunk` names it in messages. */
export interface ParsedChunk<T> extends ParsedJsonl<T> {
  chunk: string;
}

/** Every chunk of a run's records file, parsed in order (the caller decides what a bad line means). */
export async function readRecordChunks<T>(fs: RunFs, id: string, file: RecordsFile): Promise<ParsedChunk<T>[]> {
  const out: ParsedChunk<T>[] = [];
  for (const chunk of await chunkNames(fs, id, file)) {
    out.push({ chunk, ...parseJsonl<T>((await readChunkText(fs, id, chunk)) ?? '') });
  }
  return out;
}

/** Appends one record to a records chunk (file systems with append: the CLI). */
export async function appendRecord(fs: RunFs, id: string, chunk: string, record: unknown): Promise<void> {
  await appendLines(fs, id, chunk, JSON.stringify(record) + '\n');
}

/** Appends whole JSONL lines (each ending in a newline) to a records chunk in one write (file systems with append: the CLI). */
export async function appendLines(fs: RunFs, id: string, chunk: string, lines: string): Promise<void> {
  if (!fs.appendFile) throw new Error('this file system cannot append; keep the records in JsonlChunks');
  await fs.appendFile(runPath(id, chunk), encoder.encode(lines));
}

/** The chunk new records go to: the last one that exists (a run the extension wrote in chunks continues there). */
export async function lastChunkName(fs: RunFs, id: string, file: RecordsFile): Promise<string> {
  return (await chunkNames(fs, id, file)).at(-1) ?? file;
}

/**
 * Characters per JSONL chunk before the extension starts the next one: about 1 MB. Every flush
 * joins and encodes the current chunk whole on the extension host (workspace.fs has no append),
 * so this bounds how long one flush holds the host (hostWork's 'run store flush'; the README's
 * Testing part has the figures that chose it).
 */
export const JSONL_CHUNK_CHARS = 1_000_000;

/**
 * One JSONL file of an open run, kept in memory as chunks (see jsonlChunkName). workspace.fs has
 * no append, so every flush rewrites a file whole; sealing a chunk once it is full keeps each
 * rewrite, and the pause it costs the extension host, bounded however long the run grows.
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
async function lastChunkRecords(fs: RunFs, id: string, file: RecordsFile): Promise<MetricsRecord[]> {
  const chunks = await chunkNames(fs, id, file);
  for (let i = chunks.length - 1; i >= 0; i--) {
    try {
      const text = await readChunkText(fs, id, chunks[i]);
      const records = text === undefined ? [] : parseJsonl<MetricsRecord>(text).records;
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
export function deriveSummary(open: boolean, stored: RunSummary | undefined, metrics: readonly MetricsRecord[], checkpointStep?: number): { status: RunStatus; summary?: RunSummary } {
  if (open) return { status: 'running' };
  if (stored && typeof stored.status === 'string') return { status: stored.status, summary: stored };
  const last = metrics.at(-1);
  const summary: RunSummary = { status: 'stopped', step: last?.step ?? 0, message: interruptedMessage };
  if (checkpointStep !== undefined) summary.checkpointStep = checkpointStep;
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
  /** The sweep the run belongs to (its sweep.json). */
  sweep?: SweepMember;
}

/** A JSON file of the run, or undefined when it is missing or does not parse. */
export async function readJson<T>(fs: RunFs, path: string): Promise<T | undefined> {
  try {
    return JSON.parse(decoder.decode(await fs.readFile(path))) as T;
  } catch {
    return undefined;
  }
}

/**
 * Whether a config.json holds what listing, labels and pickers read from it (name, task, cell,
 * layers, hidden). A hand-edited or foreign file that does not is not listed as a run rather than
 * breaking the list; the engine validates the whole config before anything trains or loads.
 */
export function isListableConfig(c: unknown): c is RunConfig {
  if (typeof c !== 'object' || c === null || Array.isArray(c)) return false;
  const r = c as Record<string, unknown>;
  return typeof r.name === 'string' && typeof r.task === 'string' && typeof r.cell === 'string' && Number.isFinite(r.layers) && Number.isFinite(r.hidden);
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
      const [config, sweepJson] = await Promise.all([readJson<unknown>(fs, runPath(id, runFiles.config)), readJson<unknown>(fs, runPath(id, runFiles.sweep))]);
      if (!isListableConfig(config)) return undefined;
      const sweep = asSweepMember(sweepJson);
      const open = isOpen(id);
      const stored = open ? undefined : await readJson<RunSummary>(fs, runPath(id, runFiles.summary));
      const cached = !open && !stored ? interrupted?.get(id) : undefined;
      if (cached) return { id, config, status: cached.status, summary: cached, ...(sweep ? { sweep } : {}) };
      const metrics = !open && !stored ? await lastChunkRecords(fs, id, runFiles.metrics) : [];
      const derived = deriveSummary(open, stored, metrics, !open && !stored ? await storedGenerationStep(fs, id) : undefined);
      if (!open && !stored && derived.summary) interrupted?.set(id, derived.summary);
      return { id, config, ...derived, ...(sweep ? { sweep } : {}) };
    }),
  );
  const runs = listed.filter((r): r is ListedRun => r !== undefined);
  return runs.sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
}
