/**
 * `rnn-lab export-pytorch RUN_DIR --out DIR [--data FILE]`: the run's last checkpoint generation
 * as a PyTorch project (src/pytorch/export.ts) written into a new folder, whole or not at all.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { EngineError } from '../engine/errors';
import { pytorchProject, readRunForExport } from '../pytorch/export';
import { nodeRunFs } from '../runFolder/nodeRunFs';

export async function exportPytorch(runDir: string, out: string, dataFlag?: string): Promise<string[]> {
  if (!existsSync(runDir) || !statSync(runDir).isDirectory()) throw new EngineError('bad-config', `${runDir} is not a run directory`, 'Pick a run directory written by rnn-lab train.');
  if (existsSync(out) && readdirSync(out).length > 0) throw new EngineError('bad-config', `${out} already exists and is not empty`, 'Pick another --out; an export never overwrites a folder.');
  const run = await readRunForExport(nodeRunFs(runDir), '', runDir);
  // The data file: --data, else the run config's `data` as the CLI resolves it (from the working folder).
  const dataFile = dataFlag ?? run.config.data;
  if (!dataFile || !existsSync(dataFile)) throw new EngineError('bad-config', `the run's data file ${JSON.stringify(dataFile)} does not exist`, 'Pass it with --data FILE.');
  const { files } = pytorchProject({ ...run, source: resolve(runDir), dataName: basename(dataFile), data: new Uint8Array(readFileSync(dataFile)) });
  // Written into a temporary sibling folder renamed into place: the project is whole or absent.
  const tmp = `${out.replace(/[\\/]+$/, '')}.tmp-${process.pid}`;
  mkdirSync(tmp, { recursive: true });
  try {
    for (const [name, content] of Object.entries(files)) {
      mkdirSync(dirname(join(tmp, name)), { recursive: true });
      writeFileSync(join(tmp, name), content);
    }
    if (existsSync(out)) rmSync(out, { recursive: true });
    renameSync(tmp, out);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  return Object.keys(files);
}
