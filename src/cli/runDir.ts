/**
 * The run directory on disk, for the CLI: config.json, metrics.jsonl and diagnostics.jsonl
 * appended as records come, checkpoint.safetensors and summary.json written atomically
 * (temp file, then rename), so a crash never leaves a half file under the real name.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunConfig } from '../protocol';

export function writeAtomic(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

/** Creates a new run directory; never reuses one that exists (no run is overwritten). */
export function createRunDir(out: string | undefined, config: RunConfig, root = '.rnn-lab/runs'): string {
  let dir = out;
  if (!dir) {
    const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
    dir = join(root, `${stamp}-${config.name.replace(/[^\w.-]+/g, '_')}`);
    for (let i = 2; existsSync(dir); i++) dir = join(root, `${stamp}-${config.name}-${i}`);
  } else if (existsSync(join(dir, 'config.json'))) {
    throw new Error(`${dir} already holds a run; pick another --out so it is not overwritten`);
  }
  mkdirSync(dir, { recursive: true });
  writeAtomic(join(dir, 'config.json'), JSON.stringify(config, null, 2) + '\n');
  return dir;
}

export function appendJsonl(dir: string, file: string, record: unknown): void {
  appendFileSync(join(dir, file), JSON.stringify(record) + '\n');
}

export function readJsonl<T>(path: string): T[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as T);
}
