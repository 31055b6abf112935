/**
 * Reading a run folder another process is writing (the extension's WatchedRuns): its records files
 * grow by whole lines at the end, and its JSON files may be caught half-written. Neither vscode
 * nor node, so the unit tests run it over node:fs.
 */
import { EngineError } from '../engine/errors';
import { parseJson } from '../engine/json';
import { runPath, type RunFs } from './runFolder';

const decoder = new TextDecoder();

/**
 * The complete lines of `bytes` (which start at file offset `base`) past file offset `from`, and
 * the file offset just after them. A last line without its newline is still being written: it is
 * left for the next read. Undefined when there is no complete new line.
 */
export function completeLines(bytes: Uint8Array, base: number, from: number): { text: string; end: number } | undefined {
  const start = Math.max(0, from - base);
  const last = bytes.lastIndexOf(10);
  if (last < start) return undefined;
  return { text: decoder.decode(bytes.subarray(start, last + 1)), end: base + last + 1 };
}

/**
 * A file read whole again no sooner than this many times its last whole read took after it: the
 * share of time spent re-reading a growing file stays under 1 / (BACKOFF + 1) however large it grows.
 */
export const BACKOFF = 10;

/** When a file whose whole read started at `startedAt` and took `tookMs` may be read whole again. */
export function nextWholeRead(startedAt: number, tookMs: number): number {
  return startedAt + tookMs * (BACKOFF + 1);
}

/**
 * A run folder's JSON file (config.json, summary.json) as another process may be writing it:
 * `value` when it parses (the bounded parser, engine/json.ts); `missing` when it is not there;
 * `unreadable` when it does not parse yet (torn: a writer mid-write; read again later, no message);
 * `refused` with the file system's one-line reason when the RunFs refuses it (not a regular file,
 * too large: see workspaceRunFs and nodeRunFs), which reading again will not mend.
 */
export type RunJson<T> = { value: T } | { missing: true } | { unreadable: true } | { refused: string };

export async function readRunJson<T>(fs: RunFs, dir: string, file: string): Promise<RunJson<T>> {
  const path = runPath(dir, file);
  let bytes: Uint8Array;
  try {
    bytes = await fs.readFile(path);
  } catch (e) {
    if (!(await fs.exists(path))) return { missing: true };
    return e instanceof EngineError ? { refused: e.message } : { unreadable: true };
  }
  try {
    return { value: parseJson(decoder.decode(bytes), path, 'bad-config', 'It is read again at the next poll.') as T };
  } catch {
    return { unreadable: true };
  }
}
