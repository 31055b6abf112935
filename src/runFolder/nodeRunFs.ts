/**
 * RunFs over node:fs under a root folder: the CLI's run folders and the unit tests' temp dirs.
 * Every operation completes synchronously before its promise is returned, so writes land in the
 * order they are called and a process killed at any point leaves only whole steps behind.
 */
import { appendFileSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { MAX_CHECKPOINT_BYTES, MAX_JSONL_BYTES, readRegularFile } from '../cli/files';
import { join } from 'node:path';
import type { RunFs } from './runFolder';

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
    writeFile: (path, data) => run(() => writeFileSync(at(path), data)),
    appendFile: (path, data) => run(() => appendFileSync(at(path), data)),
    rename: (from, to) => run(() => renameSync(at(from), at(to))),
    createDirectory: (path) => run(() => void mkdirSync(at(path), { recursive: true })),
    readDirectory: (path) => run(() => readdirSync(at(path), { withFileTypes: true }).map((e): [string, boolean] => [e.name, e.isDirectory()])),
    exists: (path) => run(() => existsSync(at(path))),
    delete: (path) => run(() => rmSync(at(path), { recursive: true, force: true })),
  };
}
