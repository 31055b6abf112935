/**
 * RunFs over node:fs under a root folder: the CLI's run folders and the unit tests' temp dirs.
 * Every operation completes synchronously before its promise is returned, so writes land in the
 * order they are called and a process killed at any point leaves only whole steps behind.
 */
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
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
    readFile: (path) => run(() => new Uint8Array(readFileSync(at(path)))),
    writeFile: (path, data) => run(() => writeFileSync(at(path), data)),
    appendFile: (path, data) => run(() => appendFileSync(at(path), data)),
    rename: (from, to) => run(() => renameSync(at(from), at(to))),
    createDirectory: (path) => run(() => void mkdirSync(at(path), { recursive: true })),
    readDirectory: (path) => run(() => readdirSync(at(path), { withFileTypes: true }).map((e): [string, boolean] => [e.name, e.isDirectory()])),
    exists: (path) => run(() => existsSync(at(path))),
    delete: (path) => run(() => rmSync(at(path), { recursive: true, force: true })),
  };
}
