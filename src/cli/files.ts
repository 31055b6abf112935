/**
 * Every file the CLI reads or writes for a user goes through here. Reading: the path is stat'ed
 * first and anything that is not a regular file (a folder, a FIFO, a device such as /dev/zero or
 * /dev/stdin on a pipe, a socket) is refused before it is opened; a file over the caller's cap is
 * refused before it is read; the open is non-blocking and the opened descriptor is checked again
 * (a file swapped for a FIFO between stat and open is refused, not waited on); at most cap bytes
 * are read whatever the file grows to. Writing: a temp file in the same folder, renamed (or
 * linked, to never replace) into place. Node's errors become one EngineError line naming the file
 * and the cause.
 */
import { closeSync, constants, copyFileSync, fstatSync, linkSync, lstatSync, openSync, readSync, renameSync, rmSync, statSync, writeFileSync, type Stats } from 'node:fs';
import { clip, EngineError, type ErrorCode } from '../engine/errors';
import { checkFileSize, decodeText } from '../engine/data';
import { parseJson } from '../engine/json';

/** Caps for the files the CLI reads besides data files (which have maxFileBytes). */
export const MAX_JSON_FILE_BYTES = 16 * 1024 * 1024;
export const MAX_FIXTURE_BYTES = 256 * 1024 * 1024;
/** The most a checkpoint may be: the largest model the budget allows is about 1 GiB of float64 values. */
export const MAX_CHECKPOINT_BYTES = 2 * 1024 ** 3 - 1;
/** A JSONL file is read as one string: V8's strings stop at 2^29 - 24 characters. */
export const MAX_JSONL_BYTES = 256 * 1024 * 1024;

/** A path for a message: clipped, so a 100 kB argument is never echoed. */
export function shown(path: string): string {
  return clip(path, 120);
}

function size(n: number): string {
  return n >= 1024 ** 3 ? `${(n / 1024 ** 3).toFixed(1)} GiB` : n >= 1024 ** 2 ? `${(n / 1024 ** 2).toFixed(1)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} bytes`;
}

/** What a non-regular file is, for a message. */
function kindOf(s: Stats): string {
  if (s.isDirectory()) return 'a folder';
  if (s.isFIFO()) return 'a FIFO (named pipe)';
  if (s.isCharacterDevice()) return 'a character device';
  if (s.isBlockDevice()) return 'a block device';
  if (s.isSocket()) return 'a socket';
  return 'not a regular file';
}

/**
 * One line for a file-system error: the cause as a user reads it, the file, what to do. `doing` is
 * 'reading' or 'writing' (or 'creating', ...).
 */
export function fileProblem(e: unknown, path: string, doing: string, code: ErrorCode = 'bad-file'): EngineError {
  if (e instanceof EngineError) return e;
  const err = e as NodeJS.ErrnoException;
  const p = shown(path);
  switch (err?.code) {
    case 'ENOENT':
      return new EngineError(code, `${p} does not exist`, 'Check the path.');
    case 'EACCES':
    case 'EPERM':
      return new EngineError(code, `permission denied ${doing} ${p}`, 'Check the permissions of the file and its folders, or pick another path.');
    case 'EISDIR':
      return new EngineError(code, `${p} is a folder, not a file`, 'Give the path of a file.');
    case 'ENOTDIR':
      return new EngineError(code, `a part of ${p} is a file, not a folder`, 'Check the path.');
    case 'ENAMETOOLONG':
      return new EngineError(code, `the name ${p} is too long for the file system`, 'Use a shorter path or name.');
    case 'ELOOP':
      return new EngineError(code, `${p} is a loop of symbolic links`, 'Check the path.');
    case 'ENOSPC':
    case 'EDQUOT':
      return new EngineError(code, `disk full while ${doing} ${p}`, 'Free some space (or pick a path on another disk) and run the command again.');
    case 'EROFS':
      return new EngineError(code, `${p} is on a read-only file system`, 'Pick a path on a writable disk.');
    case 'EEXIST':
      return new EngineError(code, `${p} already exists`, 'Pick another path; nothing is overwritten.');
    case 'EMFILE':
    case 'ENFILE':
      return new EngineError(code, `too many open files while ${doing} ${p}`, 'Close other programs and try again.');
    case 'EIO':
      return new EngineError(code, `input/output error while ${doing} ${p}`, 'Check the disk.');
    case 'EAGAIN':
      return new EngineError(code, `${p} has nothing to read yet (it is not a regular file)`, 'Give the path of a regular file.');
    default:
      return new EngineError(code, `cannot ${doing.replace(/ing$/, '')} ${p}: ${clip(String(err?.code ?? err?.message ?? err), 60)}`, 'Check the path and its permissions.');
  }
}

/** stat() of a path that must be a regular file of at most maxBytes; `what` names it ("data file"). */
export function statRegularFile(path: string, what: string, maxBytes: number, code: ErrorCode = 'bad-file'): Stats {
  if (path === '') throw new EngineError(code, `the ${what} path is empty`, 'Give the path of a file.');
  if (path.includes('\0')) throw new EngineError(code, `the ${what} path ${JSON.stringify(clip(path, 60))} holds a NUL character`, 'Give the path of a file.');
  let s: Stats;
  try {
    s = statSync(path);
  } catch (e) {
    throw fileProblem(e, path, 'reading', code);
  }
  if (!s.isFile()) throw new EngineError(code, `${what} ${shown(path)} is ${kindOf(s)}, not a regular file`, `Give the path of a regular file${s.isDirectory() ? '' : ' (pipes and devices are not read)'}.`);
  if (s.size > maxBytes) {
    throw new EngineError('too-large', `${what} ${shown(path)} is ${size(s.size)}, over the ${size(maxBytes)} limit for it`, 'Use a smaller file.');
  }
  return s;
}

/**
 * The bytes of a regular file of at most maxBytes (see the header). `tooLarge`, when given,
 * makes the size refusal (a data file's cap has its own message and hint).
 */
export function readRegularFile(path: string, what: string, maxBytes: number, code: ErrorCode = 'bad-file', tooLarge?: (size: number) => void): Buffer {
  let s: Stats;
  if (tooLarge) {
    s = statRegularFile(path, what, Number.MAX_SAFE_INTEGER, code);
    tooLarge(s.size);
  } else s = statRegularFile(path, what, maxBytes, code);
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | (constants.O_NOCTTY ?? 0));
  } catch (e) {
    throw fileProblem(e, path, 'reading', code);
  }
  try {
    const f = fstatSync(fd);
    if (!f.isFile() || f.ino !== s.ino || f.dev !== s.dev) throw new EngineError(code, `${what} ${shown(path)} changed while it was being opened (it is now ${f.isFile() ? 'another file' : kindOf(f)})`, 'Run the command again with a regular file.');
    // Read what the file holds now, up to the cap (+1 byte to notice it grew past it).
    const limit = Math.min(maxBytes, Math.max(f.size, s.size)) + 1;
    const buf = Buffer.allocUnsafe(Math.min(limit, Math.max(f.size, 0) + 1));
    let n = 0;
    let out = buf;
    for (;;) {
      if (n === out.length) {
        if (out.length >= limit) break;
        const bigger = Buffer.allocUnsafe(Math.min(limit, out.length * 2));
        out.copy(bigger, 0, 0, n);
        out = bigger;
      }
      // One read call takes at most 2^31 - 1 bytes; 1 GiB at a time keeps under it.
      const got = readSync(fd, out, n, Math.min(out.length - n, 1024 ** 3), null);
      if (got === 0) break;
      n += got;
    }
    if (n > maxBytes) {
      if (tooLarge) tooLarge(n);
      throw new EngineError('too-large', `${what} ${shown(path)} grew past the ${size(maxBytes)} limit while it was read`, 'Use a smaller file.');
    }
    return out.subarray(0, n);
  } catch (e) {
    throw fileProblem(e, path, 'reading', code);
  } finally {
    closeSync(fd);
  }
}

/** A UTF-8 text file (no BOM handling: decodeText does that for data files). */
export function readTextFile(path: string, what: string, maxBytes: number, code: ErrorCode = 'bad-file'): string {
  const bytes = readRegularFile(path, what, maxBytes, code);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new EngineError(code, `${what} ${shown(path)} is not UTF-8 text`, 'Save it as UTF-8 and try again.');
  }
}

/** A JSON file: read as above, a UTF-8 BOM accepted, nesting bounded, errors in one line. */
export function readJsonFile(path: string, what: string, hint: string, code: ErrorCode = 'bad-config', maxBytes = MAX_JSON_FILE_BYTES): unknown {
  return parseJson(readTextFile(path, what, maxBytes, code), `${what} ${shown(path)}`, code, hint);
}

/** What is at `path` without following a final symbolic link, or undefined when nothing is. */
export function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw fileProblem(e, path, 'checking');
  }
}

/**
 * Writes a file whole or not at all: a temp file beside it, then renamed over `path` (replace)
 * or hard-linked to it (never replace: fails when `path` exists, even if it appeared meanwhile).
 * A symbolic link at `path` is refused either way, so nothing is written through it.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array, mode: 'replace' | 'new' = 'replace'): void {
  const existing = lstatOrUndefined(path);
  if (existing?.isSymbolicLink()) throw new EngineError('bad-file', `${shown(path)} is a symbolic link`, 'Give the path of a regular file; a link is never written through.');
  if (existing && mode === 'new') throw new EngineError('bad-file', `${shown(path)} already exists`, 'Pick another path; it is never overwritten.');
  if (existing && !existing.isFile()) throw new EngineError('bad-file', `${shown(path)} is ${kindOf(existing)}`, 'Give the path of a regular file.');
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    rmSync(tmp, { force: true }); // a temp file left by a killed process of the same pid
    writeFileSync(tmp, data, { flag: 'wx' });
    if (mode === 'new') {
      try {
        linkSync(tmp, path);
      } catch (e) {
        // File systems without hard links: an exclusive copy still never replaces.
        if (!['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS'].includes((e as NodeJS.ErrnoException).code ?? '')) throw e;
        copyFileSync(tmp, path, constants.COPYFILE_EXCL);
      }
      rmSync(tmp, { force: true });
    } else renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw fileProblem(e, path, 'writing');
  }
}

/**
 * A data file's text: a regular file (not a folder, FIFO or device), refused over the size cap
 * before it is read, then decoded (decodeText: UTF-8, BOM, line ends).
 */
export function readDataFile(file: string, maxFileBytes: number, what = 'data file'): string {
  const bytes = readRegularFile(file, what, maxFileBytes, 'bad-config', (size) => checkFileSize(size, shown(file), maxFileBytes));
  return decodeText(bytes, shown(file), maxFileBytes);
}
