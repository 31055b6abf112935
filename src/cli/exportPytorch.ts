/**
 * `rnn-lab export-pytorch RUN_DIR --out DIR [--data FILE]`: the run's last checkpoint generation
 * as a PyTorch project (src/pytorch/export.ts) written into a new folder, whole or not at all.
 */
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { DEFAULT_CONFIG } from '../engine/config';
import { EngineError } from '../engine/errors';
import { isSeq2SeqTask } from '../protocol/config';
import { fileProblem, lstatOrUndefined, readRegularFile, shown } from './files';
import { pytorchProject, readRunForExport } from '../pytorch/export';
import { nodeRunFs } from '../runFolder/nodeRunFs';

export async function exportPytorch(runDir: string, out: string, dataFlag?: string): Promise<string[]> {
  // A link to a run folder is followed; anything else that is not a folder is refused.
  let isFolder = false;
  try {
    isFolder = statSync(runDir).isDirectory();
  } catch {
    // missing or unreadable: refused below
  }
  if (!isFolder) throw new EngineError('bad-config', `${shown(runDir)} is not a run directory`, 'Pick a run directory written by rnn-lab train.');
  // --out: a new path or an empty real folder; never a link, a file, or a folder with anything in it.
  const existing = lstatOrUndefined(out);
  if (existing?.isSymbolicLink()) throw new EngineError('bad-config', `--out ${shown(out)} is a symbolic link`, 'Give a new folder path; a link is never replaced or written through.');
  if (existing && !existing.isDirectory()) throw new EngineError('bad-config', `--out ${shown(out)} exists and is not a folder`, 'Give a new folder path for the project.');
  if (existing && readdirSync(out).length > 0) throw new EngineError('bad-config', `${shown(out)} already exists and is not empty`, 'Pick another --out; an export never overwrites a folder.');
  const run = await readRunForExport(nodeRunFs(runDir), '', shown(runDir));
  // The data file: --data, else the run config's `data` as the CLI resolves it (from the working
  // folder); a generated seq2seq task has none (data.py draws its examples).
  const generated = isSeq2SeqTask(run.config.task) && run.config.task !== 'seq2seq';
  const dataFile = generated ? undefined : (dataFlag ?? run.config.data);
  if (!generated && (!dataFile || !existsSync(dataFile))) throw new EngineError('bad-config', `the run's data file ${JSON.stringify(shown(dataFile ?? ''))} does not exist`, 'Pass it with --data FILE.');
  // Bounded like every data read: a regular file (not a FIFO or device) of at most the run's maxFileBytes.
  const data = dataFile ? readRegularFile(dataFile, 'data file', run.config.maxFileBytes ?? DEFAULT_CONFIG.maxFileBytes, 'bad-config') : Buffer.alloc(0);
  const { files } = pytorchProject({ ...run, source: resolve(runDir), dataName: dataFile ? basename(dataFile) : '', data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) });
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
    throw fileProblem(e, out, 'writing', 'bad-config');
  }
  return Object.keys(files);
}
