/**
 * The run directory on disk, for the CLI: config.json, metrics.jsonl and diagnostics.jsonl
 * appended as records come, summary.json written atomically (temp file, then rename), so a crash
 * never leaves a half file under the real name; checkpoint generations through
 * runFolder/generation.ts over nodeGenerationFs.
 */
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { EngineError } from '../engine/errors';
import { jsonlChunkName, parseJsonl, type RunConfig } from '../protocol';
import type { GenerationFs } from '../runFolder/generation';

/** A write that failed for want of space, as one line naming the file (ENOSPC, or EDQUOT: a quota). */
export function diskFullError(err: unknown, file: string): unknown {
  const code = (err as { code?: unknown } | null)?.code;
  if (code !== 'ENOSPC' && code !== 'EDQUOT') return err;
  return new EngineError('disk-full', `disk full while writing ${file}`, 'Free some space, then rnn-lab train --resume RUN_DIR: the run continues from its last checkpoint');
}

/** Runs a write, turning a full disk into diskFullError's one line. */
export function writing<T>(file: string, write: () => T): T {
  try {
    return write();
  } catch (e) {
    throw diskFullError(e, file);
  }
}

export function writeAtomic(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, data);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw diskFullError(e, path);
  }
  renameSync(tmp, path);
}

/**
 * GenerationFs over node:fs with paths relative to `root`; fsync flushes files and folders (a
 * platform that cannot flush a folder, e.g. Windows, refuses it: that is ignored).
 */
export function nodeGenerationFs(root: string): GenerationFs {
  const full = (p: string) => join(root, p);
  return {
    async read(p) {
      try {
        // A FIFO or device under a checkpoint's name would block the read or never end: refused unopened.
        if (!(await stat(full(p))).isFile()) throw new EngineError('bad-checkpoint', `${full(p)} is not a regular file`, 'Remove it; a run folder holds only files RNN Lab wrote.');
        return new Uint8Array(await readFile(full(p)));
      } catch (e) {
        if ((e as { code?: string }).code === 'ENOENT') return undefined;
        throw e;
      }
    },
    async write(p, data) {
      const handle = await open(full(p), 'w');
      try {
        await handle.writeFile(data);
      } catch (e) {
        throw diskFullError(e, full(p).replace(/\.tmp$/, ''));
      } finally {
        await handle.close();
      }
    },
    rename: (from, to) => rename(full(from), full(to)),
    remove: (p) => rm(full(p), { force: true, recursive: true }),
    list: (dir) => readdir(full(dir)),
    async fsync(p) {
      let handle;
      try {
        handle = await open(full(p), 'r');
        await handle.sync();
      } catch (e) {
        const code = (e as { code?: string }).code;
        if (code !== 'EPERM' && code !== 'EISDIR' && code !== 'EINVAL') throw diskFullError(e, full(p));
      } finally {
        await handle?.close();
      }
    },
  };
}

function newRunDirName(config: RunConfig, root: string): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  let dir = join(root, `${stamp}-${config.name.replace(/[^\w.-]+/g, '_')}`);
  for (let i = 2; existsSync(dir); i++) dir = join(root, `${stamp}-${config.name}-${i}`);
  return dir;
}

/** Creates a new run directory; never reuses one that exists (no run is overwritten). */
export function createRunDir(out: string | undefined, config: RunConfig, root = '.rnn-lab/runs'): string {
  let dir = out;
  if (!dir) {
    dir = newRunDirName(config, root);
  } else if (existsSync(join(dir, 'config.json'))) {
    throw new EngineError('bad-config', `${dir} already holds a run`, 'Pick another --out so it is not overwritten.');
  }
  mkdirSync(dir, { recursive: true });
  writeAtomic(join(dir, 'config.json'), JSON.stringify(config, null, 2) + '\n');
  return dir;
}

export function appendJsonl(dir: string, file: string, record: unknown): void {
  writing(join(dir, file), () => appendFileSync(join(dir, file), JSON.stringify(record) + '\n'));
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
  const { records, badLines } = parseJsonl<T>(readFileSync(path, 'utf8'));
  if (badLines.length) throw new EngineError('bad-config', `${path} line ${badLines[0]} is not a JSON record`, 'The run\'s files were edited or damaged; remove that line.');
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
  if (existsSync(dir) && readdirSync(dir).length > 0) {
    throw new EngineError('bad-config', `${dir} already exists and is not empty`, 'Pick another --out; a run directory is never overwritten.');
  }
  mkdirSync(dirname(dir), { recursive: true });
  const tmp = `${dir}.tmp-${process.pid}`;
  mkdirSync(tmp, { recursive: true });
  try {
    for (const [name, data] of Object.entries(files)) writeFileSync(join(tmp, name), data);
    renameSync(tmp, dir);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  return dir;
}
