/**
 * One writer per run folder. `rnn-lab train` holds `<run>/writer.lock` while it writes the run (a
 * new run, or --resume): created exclusively (O_EXCL), it names the process. A second writer is
 * refused while that process lives, since two writers would interleave records and generations and
 * the second one's temp-file cleanup would pull files from under the first. A lock whose process
 * is gone (killed: no exit handler ran) is stale and taken over. On Linux the process's start time
 * from /proc is recorded too, so a reused pid is not mistaken for the holder.
 */
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { EngineError } from '../engine/errors';
import { runFiles } from '../runFolder/runFolder';
import { fileProblem, shown } from './files';

interface LockInfo {
  pid: number;
  host: string;
  since: string;
  /** Field 22 of /proc/<pid>/stat (start time in clock ticks since boot), where there is one. */
  started?: string;
}

/** Fields 3 on of /proc/<pid>/stat (state, ppid, ...), where there is one. */
function procStat(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces: count from after it.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

const processStart = (pid: number): string | undefined => procStat(pid)?.[19];

/** Whether the process a lock names still holds it (same host only: another host's lock is trusted). */
function holderAlive(info: LockInfo): boolean {
  if (info.host !== hostname()) return true;
  try {
    process.kill(info.pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  const stat = procStat(info.pid);
  // A zombie (killed, not yet reaped by its parent) writes nothing more.
  if (stat?.[0] === 'Z') return false;
  return info.started === undefined || stat === undefined || stat[19] === info.started;
}

function readLock(path: string): LockInfo | undefined {
  try {
    const info = JSON.parse(readFileSync(path, 'utf8')) as Partial<LockInfo>;
    return Number.isSafeInteger(info.pid) && typeof info.host === 'string' ? (info as LockInfo) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Takes the run folder's writer lock, or throws one clear error naming the process that holds it.
 * Returns the release, which is also run when the process exits.
 */
export function takeWriterLock(dir: string): () => void {
  const path = join(dir, runFiles.writerLock);
  const mine: LockInfo = { pid: process.pid, host: hostname(), since: new Date().toISOString(), started: processStart(process.pid) };
  for (let attempt = 0; ; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, 'wx');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw fileProblem(e, path, 'creating', 'bad-config');
      const held = readLock(path);
      // A lock that does not parse was cut short by a kill between its create and its write.
      if (held && holderAlive(held)) {
        throw new EngineError('bad-config', `${shown(dir)} is being trained by process ${held.pid} on ${held.host} (since ${held.since})`, `Stop that run first (Ctrl+C in its terminal), or wait for it to finish; if no such process is training it, delete ${shown(path)}.`);
      }
      rmSync(path, { force: true });
      continue;
    }
    try {
      writeSync(fd, JSON.stringify(mine) + '\n');
    } finally {
      closeSync(fd);
    }
    break;
  }
  let held = true;
  const release = () => {
    if (!held) return;
    held = false;
    process.off('exit', release);
    if (readLock(path)?.pid === process.pid) rmSync(path, { force: true });
  };
  process.on('exit', release);
  return release;
}
