/**
 * RunFs over node:fs under a root folder: the CLI's run folders and the unit tests' temp dirs.
 * Every operation completes synchronously before its promise is returned, so writes land in the
 * order they are called and a process killed at any point leaves only whole steps behind.
 */
import { appendFileSync, closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { MAX_CHECKPOINT_BYTES, MAX_JSONL_BYTES, readRegularFile } from '../cli/files';
import { join } from 'node:path';
import { EngineError } from '../engine/errors';
import type { RunFs } from './runFolder';

/**
 * A write that failed for want of space (ENOSPC, or EDQUOT: a quota) as one line naming the file
 * (a temp file by the file it stands for); any other error as it is.
 */
export function diskFullError(err: unknown, file: string): unknown {
  const code = (err as { code?: unknown } | null)?.code;
  if (code !== 'ENOSPC' && code !== 'EDQUOT') return err;
  return new EngineError('disk-full', `disk full while writing ${file.replace(/\.tmp$/, '')}`, 'Free some space, then resume the run: it continues from its last checkpoint');
}

/** Flushes a file or folder to the disk; a platform that cannot flush a folder (Windows) refuses it, which is ignored. */
function fsyncPath(path: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    fsyncSync(fd);
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code !== 'EPERM' && code !== 'EISDIR' && code !== 'EINVAL' && code !== 'EBADF') throw diskFullError(e, path);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function writing(file: string, write: () => void): void {
  try {
    write();
  } catch (e) {
    throw diskFullError(e, file);
  }
}

export function nodeRunFs(root: string): RunFs {
  const at = (path: string): string => (path ? join(root, ...path.split('/')) : root);
  const run = <T>(f: () => T): Promise<T> => {
    try {
      return Promise.resolve(f());
    } catch (e) {
      return Promise.reject(e);
    }
  };
  return {
    // Bounded reads that refuse FIFOs, devices and folders (cli/files.ts): a run folder is the user's to damage.
    readFile: (path) =>
      run(() => {
        const b = readRegularFile(at(path), 'run file', /\.safetensors$/.test(path) ? MAX_CHECKPOINT_BYTES : MAX_JSONL_BYTES, 'bad-config');
        return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
      }),
    writeFile: (path, data) => run(() => writing(at(path), () => writeFileSync(at(path), data))),
    appendFile: (path, data) => run(() => writing(at(path), () => appendFileSync(at(path), data))),
    rename: (from, to) => run(() => renameSync(at(from), at(to))),
    createDirectory: (path) => run(() => void mkdirSync(at(path), { recursive: true })),
    readDirectory: (path) => run(() => readdirSync(at(path), { withFileTypes: true }).map((e): [string, boolean] => [e.name, e.isDirectory()])),
    exists: (path) => run(() => existsSync(at(path))),
    delete: (path) => run(() => rmSync(at(path), { recursive: true, force: true })),
    fsync: (path) => run(() => fsyncPath(at(path))),
  };
}
