/**
 * The CLI's run folders: the run folder layer (src/runFolder/runFolder.ts, shared with the
 * extension) over node:fs. A run is addressed by its directory path as the user gave it (`--out`
 * or a positional RUN_DIR); the layer sees that directory's parent as the store root and its
 * base name as the run id. metrics.jsonl and diagnostics.jsonl are appended record by record;
 * config.json, summary.json and the checkpoint are replaced atomically (temp file, then rename).
 */
import { readdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { EngineError } from '../engine/errors';
import { fileProblem, lstatOrUndefined, shown } from './files';
import type { RunConfig } from '../protocol/config';
import { nodeRunFs } from '../runFolder/nodeRunFs';
import { createRunAt, freeRunId, readRecordChunks, writeRunWhole, type RecordsFile, type RunFs } from '../runFolder/runFolder';

export const DEFAULT_RUNS_ROOT = '.rnn-lab/runs';

/** A run directory as the layer sees it. */
export interface RunDir {
  /** The path as the user gave it (messages name it). */
  dir: string;
  fs: RunFs;
  id: string;
}

export function runDir(dir: string): RunDir {
  return { dir, fs: nodeRunFs(dirname(dir)), id: basename(dir) };
}

/**
 * Refuses an --out that must not be written: a symbolic link (never replaced or written through),
 * something that is not a folder, a folder holding a run, or a folder holding anything else.
 * Only a new path or an empty folder is a place for a new run.
 */
export function checkNewRunDir(out: string): void {
  const s = lstatOrUndefined(out);
  if (!s) return;
  const p = shown(out);
  if (s.isSymbolicLink()) throw new EngineError('bad-config', `--out ${p} is a symbolic link`, 'Give a new folder path; a link is never replaced or written through.');
  if (!s.isDirectory()) throw new EngineError('bad-config', `--out ${p} exists and is not a folder`, 'Give a new folder path for the run.');
  let entries: string[];
  try {
    entries = readdirSync(out);
  } catch (e) {
    throw fileProblem(e, out, 'reading', 'bad-config');
  }
  if (entries.includes('config.json')) throw new EngineError('bad-config', `${p} already holds a run`, 'Pick another --out so it is not overwritten.');
  if (entries.length > 0) throw new EngineError('bad-config', `--out ${p} is a folder that is not a run and not empty (${entries.length} entries)`, 'Give a new or empty folder; nothing in it is overwritten.');
}

/** Creates a new run directory with its config.json: `out`, or a new id under `root`. Never reuses one that holds a run. */
export async function createRunDir(out: string | undefined, config: RunConfig, root = DEFAULT_RUNS_ROOT): Promise<RunDir> {
  if (out !== undefined) checkNewRunDir(out);
  const run = out !== undefined ? runDir(out) : runDir(join(root, await freeRunId(nodeRunFs(root), config.name, new Date())));
  let created: boolean;
  try {
    created = await createRunAt(run.fs, run.id, config);
  } catch (e) {
    throw fileProblem(e, run.dir, 'creating', 'bad-config');
  }
  if (!created) throw new EngineError('bad-config', `${shown(run.dir)} already holds a run`, 'Pick another --out so it is not overwritten.');
  return run;
}

/**
 * The chunks of a run's JSONL file (`x.jsonl`, `x.2.jsonl`, ... as the extension writes them),
 * in order, with their records. A last line cut short (no newline: a write the process or window
 * did not finish) is dropped; any other line that does not parse is an error.
 */
export async function readRecordChunksStrict<T>(run: RunDir, file: RecordsFile): Promise<{ chunk: string; records: T[] }[]> {
  const chunks = await readRecordChunks<T>(run.fs, run.id, file);
  for (const c of chunks) {
    if (c.badLines.length) throw new EngineError('bad-config', `${shown(join(run.dir, c.chunk))} line ${c.badLines[0]} is not a JSON record`, "The run's files were edited or damaged; remove that line.");
  }
  return chunks;
}

/** The records of a run's JSONL file, every chunk in order (see readRecordChunksStrict). */
export async function readRecords<T>(run: RunDir, file: RecordsFile): Promise<T[]> {
  return (await readRecordChunksStrict<T>(run, file)).flatMap((c) => c.records);
}

/**
 * Writes a whole run directory at once (an import): it appears complete or not at all. Refuses
 * a target that exists and is not empty.
 */
export async function writeRunDirWhole(out: string | undefined, config: RunConfig, files: Record<string, string | Uint8Array>, root = DEFAULT_RUNS_ROOT): Promise<string> {
  if (out !== undefined) checkNewRunDir(out);
  const run = out !== undefined ? runDir(out) : runDir(join(root, await freeRunId(nodeRunFs(root), config.name, new Date())));
  let written: boolean;
  try {
    await run.fs.createDirectory('');
    written = await writeRunWhole(run.fs, run.id, files);
  } catch (e) {
    throw fileProblem(e, run.dir, 'writing', 'bad-config');
  }
  if (!written) throw new EngineError('bad-config', `${shown(run.dir)} already exists and is not empty`, 'Pick another --out; a run directory is never overwritten.');
  return run.dir;
}
