/**
 * `rnn-lab export-pytorch` and RNN Lab: Continue in PyTorch: a run's last checkpoint generation
 * as a self-contained PyTorch project. Pure (no vscode, no node): the caller reads the run folder
 * and writes the returned files, the CLI with node:fs, the extension with workspace.fs.
 *
 *   model.py            the model in torch.nn, named so the checkpoint loads with strict=True
 *   data.py             the run's data as the engine reads it: vocabulary, normalisation, streams
 *   train.py            continues the run (python or torchrun) and writes an RNN Lab run folder
 *   rnnlab_logger.py    that run-folder format and the diagnostics, usable on its own
 *   README.md           the two commands and the requirements
 *   rnnlab_project.json the original run's folder and the data file's place in the project
 *   data/<file>         the run's data file (language models and forecasters)
 *   data/examples.json  seq2seq: the held-out set (and a pairs file's training examples)
 *   run/                the generation it continues from (config, checkpoint, resume state,
 *                       the records up to its step)
 */
import { EngineError } from '../engine/errors';
import { decodeSafetensors } from '../engine/safetensors';
import { RESUME_FORMAT } from '../engine/resume';
import { isSeq2SeqTask, type RunConfig } from '../protocol/config';
import { howToRun } from './readme';
import { seq2seqExamples, seq2seqReadme } from './seq2seqExport';
import { readGeneration } from '../runFolder/generation';
import { chunkNames, readChunkText, runFiles, type RecordsFile, type RunFs } from '../runFolder/runFolder';
import dataPy from './templates/data.py';
import loggerPy from './templates/rnnlab_logger.py';
import modelPy from './templates/model.py';
import trainPy from './templates/train.py';
import seq2seqDataPy from './templates/seq2seq_data.py';
import seq2seqModelPy from './templates/seq2seq_model.py';
import seq2seqTrainPy from './templates/seq2seq_train.py';

export interface PytorchExportInput {
  /** The run folder's path as the user knows it (recorded so train.py can write beside it). */
  source: string;
  /** checkpoint.safetensors and resume.safetensors of the run's last generation. */
  model: Uint8Array;
  state: Uint8Array;
  /** The records files' texts (all chunks concatenated), or '' when absent. */
  metrics: string;
  diagnostics: string;
  /** Seq2seq runs: eval.jsonl's text ('' when absent). */
  eval?: string;
  /** The data file: its base name and bytes (empty for a generated seq2seq task). */
  dataName: string;
  data: Uint8Array;
}

/** The project's files, by path relative to its folder. */
export type ProjectFiles = Record<string, string | Uint8Array>;

/** The lines of a JSONL text whose records are at or before `step` (a torn or bad line is left out). */
function recordsUpTo(text: string, step: number): string {
  return text
    .split('\n')
    .filter((line) => {
      if (line.trim() === '') return false;
      try {
        const s = (JSON.parse(line) as { step?: unknown }).step;
        return typeof s !== 'number' || s <= step;
      } catch {
        return false;
      }
    })
    .map((line) => line + '\n')
    .join('');
}

/** The run config and step of a generation's resume file; refuses one train.py cannot continue. */
export function generationConfig(state: Uint8Array, where: string): { config: RunConfig; step: number; metadata: Record<string, string> } {
  const { metadata } = decodeSafetensors(state, where);
  if (metadata.format !== RESUME_FORMAT) {
    throw new EngineError('bad-checkpoint', `${where} has format ${JSON.stringify(metadata.format)}; the PyTorch project continues ${RESUME_FORMAT}`, 'Resume the run in RNN Lab for one step (rnn-lab train --resume RUN_DIR --steps N), which writes the current format, then export again.');
  }
  const step = Number(metadata.step);
  const config = JSON.parse(metadata.config ?? 'null') as RunConfig | null;
  if (!config || typeof config !== 'object') throw new EngineError('bad-checkpoint', `${where} holds no run config`, 'Pick a run written by RNN Lab.');
  return { config, step, metadata };
}

export function pytorchProject(input: PytorchExportInput): { files: ProjectFiles; config: RunConfig; step: number } {
  const { config, step, metadata } = generationConfig(input.state, `${input.source}/resume.safetensors`);
  if (isSeq2SeqTask(config.task)) {
    const project = { source: input.source, examples: 'data/examples.json', name: config.name, step };
    const files: ProjectFiles = {
      'model.py': seq2seqModelPy,
      'data.py': seq2seqDataPy,
      'train.py': seq2seqTrainPy,
      'rnnlab_logger.py': loggerPy,
      'README.md': seq2seqReadme(config, step, input.source),
      'rnnlab_project.json': JSON.stringify(project, null, 2) + '\n',
      'data/examples.json': seq2seqExamples(config, metadata, input.data, input.dataName),
      'run/config.json': JSON.stringify(config, null, 2) + '\n',
      'run/checkpoint.safetensors': input.model,
      'run/resume.safetensors': input.state,
      'run/metrics.jsonl': recordsUpTo(input.metrics, step),
      'run/diagnostics.jsonl': recordsUpTo(input.diagnostics, step),
      'run/eval.jsonl': recordsUpTo(input.eval ?? '', step),
    };
    return { files, config, step };
  }
  const dataName = input.dataName.replace(/[\\/]/g, '_');
  const project = { source: input.source, data: `data/${dataName}`, name: config.name, step };
  const files: ProjectFiles = {
    'model.py': modelPy,
    'data.py': dataPy,
    'train.py': trainPy,
    'rnnlab_logger.py': loggerPy,
    'README.md': readme(config, step, input.source),
    'rnnlab_project.json': JSON.stringify(project, null, 2) + '\n',
    [`data/${dataName}`]: input.data,
    'run/config.json': JSON.stringify(config, null, 2) + '\n',
    'run/checkpoint.safetensors': input.model,
    'run/resume.safetensors': input.state,
    'run/metrics.jsonl': recordsUpTo(input.metrics, step),
    'run/diagnostics.jsonl': recordsUpTo(input.diagnostics, step),
  };
  return { files, config, step };
}

function readme(config: RunConfig, step: number, source: string): string {
  const model = `${config.cell.toUpperCase()} ${config.layers}x${config.hidden}${config.task === 'forecast' ? ' forecaster' : ' character model'}`;
  return `# ${config.name} in PyTorch

The RNN Lab run \`${source}\` (${model}), exported at step ${step} to continue in PyTorch.

${howToRun(step)} Each process trains a contiguous share of the
${config.batch} streams, so the global batch, and the losses, are the single process's.

## What it does

\`train.py\` continues from the last checkpoint generation (\`run/\`): the weights, the optimizer's
moments and step count, the learning-rate schedule, the clipping, the data position and the hidden
state carried between chunks. \`--steps\` is the total step count, as \`rnn-lab train --resume\` takes
it. In float64 on the CPU its losses are RNN Lab's, step for step (to rounding); dropout between
layers draws its masks from torch's generator instead of RNN Lab's, so a run with dropout is the
same in distribution only.

It writes an RNN Lab run folder (default: a new folder beside the original run): config.json,
metrics.jsonl, diagnostics.jsonl (sigma_1 of each W_hh gate block, gate saturation, clipped and
unclipped gradient norms, gradient flow through time), checkpoint.safetensors and
resume.safetensors. RNN Lab shows it while it trains (Runs view; RNN Lab: Watch Run Folder... for a
folder outside the run store), and \`rnn-lab train --resume RUN_DIR --steps N\` continues it in RNN Lab.

- \`model.py\`: the model in torch.nn; \`load_state_dict(strict=True)\` takes \`run/checkpoint.safetensors\`
- \`data.py\`: the vocabulary or normalisation, the streams and batches of the run
- \`rnnlab_logger.py\`: the run-folder format and the diagnostics, usable in any PyTorch script
  with an nn.LSTM, nn.GRU or nn.RNN (see its docstring)
`;
}

/**
 * What an export reads of run `id` in `fs`: its last generation and its records. Throws one line
 * when the run has no generation train.py can continue.
 */
export async function readRunForExport(fs: RunFs, id: string, where: string): Promise<Pick<PytorchExportInput, 'model' | 'state' | 'metrics' | 'diagnostics' | 'eval'> & { config: RunConfig }> {
  const stored = await readGeneration(fs, id, where);
  if (stored.kind !== 'resumable') {
    const why = stored.kind === 'broken' ? stored.reason : stored.kind === 'none' ? 'it has no checkpoint yet' : 'it has no resume.safetensors (an imported run, or one of an older version)';
    throw new EngineError('bad-checkpoint', `cannot continue ${where} in PyTorch: ${why}`, 'Train it in RNN Lab (or resume it once) so it has a checkpoint generation, then export again.');
  }
  const records = async (file: RecordsFile) => {
    let text = '';
    for (const chunk of await chunkNames(fs, id, file)) text += (await readChunkText(fs, id, chunk).catch(() => undefined)) ?? '';
    return text;
  };
  const { config } = generationConfig(stored.state, `${where}/${runFiles.resume}`);
  return { model: stored.model, state: stored.state, metrics: await records(runFiles.metrics), diagnostics: await records(runFiles.diagnostics), eval: isSeq2SeqTask(config.task) ? await records(runFiles.eval) : '', config };
}
