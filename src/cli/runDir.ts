/**
 * The run directory on disk, for the CLI: config.json, metrics.jsonl and diagnostics.jsonl
 * appended as records come, checkpoint.safetensors and summary.json written atomically
 * (temp file, then rename), so a crash never leaves a half file under the real name.
 */
import { appendFileSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { EngineError } from '../engine/errors';
import { fileProblem, lstatOrUndefined, MAX_JSONL_BYTES, readTextFile, shown, writeFileAtomic } from './files';
import { jsonlChunkName, parseJsonl, type RunConfig } from '../protocol';

export function writeAtomic(path: string, data: string | Uint8Array): void {
  writeFileAtomic(path, data, 'replace');
}

/** A run name as one folder-name component: no separators, no leading dot, at most 100 characters. */
function safeRunName(name: string): string {
  return Array.from(name.replace(/[^\w.-]+/g, '_').replace(/^\.+/, '_')).slice(0, 100).join('') || 'run';
}

function newRunDirName(config: RunConfig, root: string): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  const name = safeRunName(config.name);
  let dir = join(root, `${stamp}-${name}`);
  for (let i = 2; existsSync(dir); i++) dir = join(root, `${stamp}-${name}-${i}`);
  return dir;
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

/** Creates a new run directory; never reuses one that exists (no run is overwritten). */
export function createRunDir(out: string | undefined, config: RunConfig, root = '.rnn-lab/runs'): string {
  let dir = out;
  if (!dir) {
    dir = newRunDirName(config, root);
  } else checkNewRunDir(dir);
  try {
    mkdirSync(dirname(dir), { recursive: true });
    // Not recursive for the run folder itself: one that appeared since the check is not reused
    // (an empty folder given as --out is).
    if (!lstatOrUndefined(dir)) mkdirSync(dir);
  } catch (e) {
    throw fileProblem(e, dir, 'creating', 'bad-config');
  }
  writeAtomic(join(dir, 'config.json'), JSON.stringify(config, null, 2) + '\n');
  return dir;
}

export function appendJsonl(dir: string, file: string, record: unknown): void {
  appendFileSync(join(dir, file), JSON.stringify(record) + '\n');
}

/** The records of a JSONL file and of its chunks (`x.2.jsonl`, ... as the extension writes them), in order. */
export function readJsonl<T>(path: string): T[] {
  return jsonlChunkPaths(path).flatMap((chunk) => readJsonlFile<T>(chunk));
}

/**
 * The records of one JSONL file. A last line cut short (no newline: a write the process or window
 * did not finish) is dropped; any other line that does not parse is an error.
 */
export function readJsonlFile<T>(path: string): T[] {
  const { records, badLines } = parseJsonl<T>(readTextFile(path, 'run file', MAX_JSONL_BYTES, 'bad-config'));
  if (badLines.length) throw new EngineError('bad-config', `${shown(path)} line ${badLines[0]} is not a JSON record`, 'The run\'s files were edited or damaged; remove that line.');
  return records;
}

/** The file name records go to: a run the extension wrote in chunks continues in its last chunk. */
export function lastJsonlChunk(dir: string, name: string): string {
  return basename(jsonlChunkPaths(join(dir, name)).at(-1) ?? name);
}

/** `path` and its chunk files that exist, up to the first one missing. */
export function jsonlChunkPaths(path: string): string[] {
  const out: string[] = [];
  for (let i = 0; ; i++) {
    const chunk = join(dirname(path), jsonlChunkName(basename(path), i));
    if (!existsSync(chunk)) return out;
    out.push(chunk);
  }
}

/**
 * Writes a whole run directory at once: the files go into a temporary sibling directory that is
 * renamed into place, so the run appears complete or not at all. Refuses a target that exists
 * and is not empty.
 */
export function writeRunDirWhole(out: string | undefined, config: RunConfig, files: Record<string, string | Uint8Array>, root = '.rnn-lab/runs'): string {
  const dir = out ?? newRunDirName(config, root);
  if (out !== undefined) checkNewRunDir(out);
  const tmp = `${dir}.tmp-${process.pid}`;
  try {
    mkdirSync(dirname(dir), { recursive: true });
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp);
    for (const [name, data] of Object.entries(files)) writeFileSync(join(tmp, name), data);
    renameSync(tmp, dir);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw fileProblem(e, dir, 'writing', 'bad-config');
  }
  return dir;
}
