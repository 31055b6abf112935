#!/usr/bin/env node
/**
 * `rnn-lab`: train, sample, report and check against the oracles without VS Code.
 * Usage errors and errors a user can cause print one line and exit 2.
 */
import { readFileSync, existsSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { isSeq2SeqTask, type DiagnosticsRecord, type GruVariant, type MetricsRecord, type RunConfig, type RunSummary } from '../protocol/config';
import type { FromWorker } from '../protocol/trainingWorker';
import { isSeq2SeqCheckpoint, loadSeq2SeqCheckpoint, restoreSeq2SeqTrainer } from '../engine/seq2seqCheckpoint';
import { Seq2SeqTrainer, seq2seqData } from '../engine/seq2seqTrainer';
import { validateConfig, DEFAULT_CONFIG } from '../engine/config';
import { checkFileSize, decodeText } from '../engine/data';
import { EngineError } from '../engine/errors';
import { checkFixture, checkOracleFile, isSeq2SeqOracle, type OracleFixture } from '../engine/oracle';
import { kernelArena } from '../engine/wasm/kernels';
import { loadCheckpoint, type LoadedModel } from '../engine/checkpoint';
import { Rng } from '../engine/random';
import { sampleText } from '../engine/sample';
import { datasetFor, runSession, type SessionStart } from '../engine/session';
import { dataFingerprint, restoreTrainer } from '../engine/resume';
import { exportStateDict, importAsRun, vocabularyFrom } from '../engine/interop';
import { Trainer } from '../engine/trainer';
import { runBench } from './bench';
import { exportPytorch } from './exportPytorch';
import { evalLine, exportSeq2Seq, SEQ2SEQ_FLAG_KEYS, SEQ2SEQ_HELP, seq2seqReportLines, trainSeq2Seq, translate } from './seq2seq';
import { benchChild } from './bench/child';
import { runSeq2SeqBench } from './bench/seq2seq';
import { latestModel, noModelYet, readGeneration, removeStaleTemps, repairGeneration, type GenerationStage } from '../runFolder/generation';
import { repairJsonlChunks, resumedConfig } from '../runFolder/repair';
import { appendRecord, chunkNames, importedRunFiles, lastChunkName, readText, runFiles, runPath, writeAtomic, writeCheckpoint, writeConfig, writeSummary } from '../runFolder/runFolder';
import { createRunDir, readRecords, runDir, writeFileAtomic, writeRunDirWhole, type RunDir } from './runDir';

class UsageError extends Error {}

const HELP: Record<string, string> = {
  train: `rnn-lab train FILE [--config F.rnn.json] [--cell lstm|gru|rnn] [--layers N] [--hidden N] [--seq N]
              [--batch N] [--steps N] [--lr X] [--optim adam|sgd|rmsprop|adagrad] [--clip X]
              [--clip-mode norm|value|none] [--init orthogonal|identity|gaussian] [--scale X]
              [--task charlm|forecast] [--columns a,b] [--seed N] [--diag-every N] [--out RUN_DIR]
              [--checkpoint-seconds S] [--checkpoint-every N] [--precision float32|float64]
       rnn-lab train --resume RUN_DIR [--steps N] [FILE]
  Trains on a text file (character LM) or a CSV column (forecasting); writes a run directory.
  --precision float32 (the default) trains on the WebAssembly SIMD kernels where the host has them;
  float64 is the exact reference engine (seq2seq tasks always train in float64).
  A checkpoint (model and resume state) is written every 30 s of training (--checkpoint-seconds),
  every N steps if --checkpoint-every is given, and at the end; Ctrl-C, SIGTERM and SIGHUP write
  one and exit 130, 143, 129.
  --resume continues a run from its last checkpoint (optimizer, RNG, data position, carried
  state) exactly as if it had not stopped, however it stopped; --steps raises its total.
${SEQ2SEQ_HELP.train}`,
  translate: SEQ2SEQ_HELP.translate,
  sample: `rnn-lab sample RUN_DIR [--temperature X] [--length N] [--prime TEXT] [--top-k N] [--seed N]
  Prints text sampled from a trained character model.`,
  report: `rnn-lab report RUN_DIR
  Prints a summary: final loss, sigma_1 of W_hh per layer and gate, clipping, saturation, gradient flow.`,
  oracle: `rnn-lab oracle FILE...
  Checks the engine against oracle fixtures (PyTorch float64): the language-model format and the
  seq2seq one ("format": "rnn-lab-seq2seq-oracle/1"). Prints each quantity's error
  max|ours - ref| / max|ref|: the float64 engine within 1e-9, and for language-model fixtures the
  float32 WebAssembly SIMD path too (where the host has SIMD) within 2e-5; exits 1 if any exceeds.
  Seq2seq runs train in float64 only, so their fixtures are checked in float64.`,
  export: `rnn-lab export RUN_DIR [--out FILE.safetensors] [--dtype f64|f32] [--prefix rnn.]
  Writes the run's weights as a PyTorch state_dict in safetensors (default RUN_DIR/pytorch.safetensors):
  weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0, ... (+ embedding.weight, head.weight, head.bias);
  f64 is exact (load_state_dict converts to a float32 module's dtype), f32 is half the size.
  --prefix puts the recurrent tensors under a submodule name (rnn.weight_ih_l0). Never overwrites.`,
  'export-pytorch': `rnn-lab export-pytorch RUN_DIR --out DIR [--data FILE]
  Writes a PyTorch project that continues the run from its last checkpoint: model.py (torch.nn,
  loads the checkpoint with strict=True), data.py, train.py (python train.py --steps N, or torchrun
  with DistributedDataParallel), rnnlab_logger.py and a README. train.py writes an RNN Lab run folder
  that RNN Lab shows live and rnn-lab train --resume continues. --data: the run's data file when it moved.`,
  import: `rnn-lab import FILE.safetensors [--out RUN_DIR] [--vocab TEXT_OR_JSON] [--gru-variant reset_after|reset_before]
              [--activation tanh|relu] [--name NAME]
  Makes a run from a safetensors state_dict of torch.nn.RNN/LSTM/GRU (with or without embedding and
  head): cell, layers and sizes come from the names and shapes. --vocab gives the vocabulary when the
  file has none (a JSON list of strings, or a text whose sorted distinct characters it is).`,
  bench: `rnn-lab bench [--quick] [--seq2seq] [--json]
  Measures training throughput beside tfjs (cpu, wasm) on configs a-d and a vanilla RNN: chars/s,
  ratios, model GFLOP/s vs a tiled-matmul ceiling, peak RSS. --quick: under a minute on an idle machine.
  Full runs and --seq2seq (alone) add the seq2seq config: time to 99% held-out exact match on
  reversal (lengths 5-10, LSTM 64, dot attention, batch 128) beside PyTorch (one thread).`,
  demo: `rnn-lab demo
  Trains a small LSTM on the bundled Pride and Prejudice text and prints samples.`,
};

function usage(): string {
  return `RNN Lab command line\n\n${Object.values(HELP).join('\n\n')}\n`;
}

function parseFlags(args: string[]): { positional: string[]; flags: Map<string, string> } {
  const positional: string[] = [];
  const flags = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a.startsWith('--')) {
      const [k, v] = a.includes('=') ? [a.slice(2, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a.slice(2), args[i + 1]];
      if (k === 'help') {
        flags.set('help', '1');
        continue;
      }
      if (v === undefined || (!a.includes('=') && v.startsWith('--'))) throw new UsageError(`--${k} needs a value`);
      flags.set(k, v);
      if (!a.includes('=')) i++;
    } else positional.push(a);
  }
  return { positional, flags };
}

/** CLI flag -> run config key, and how to read its value. */
const FLAG_KEYS: Record<string, [keyof RunConfig, 'num' | 'str' | 'list']> = {
  cell: ['cell', 'str'], 'gru-variant': ['gruVariant', 'str'], activation: ['rnnActivation', 'str'],
  layers: ['layers', 'num'], hidden: ['hidden', 'num'], embedding: ['embedding', 'num'], dropout: ['dropout', 'num'],
  seq: ['seqLength', 'num'], batch: ['batch', 'num'], steps: ['steps', 'num'], lr: ['lr', 'num'],
  'lr-decay': ['lrDecay', 'num'], 'lr-decay-every': ['lrDecayEvery', 'num'], optim: ['optimizer', 'str'],
  momentum: ['momentum', 'num'], clip: ['clip', 'num'], 'clip-mode': ['clipMode', 'str'], init: ['hiddenInit', 'str'],
  scale: ['hiddenScale', 'num'], 'forget-bias': ['forgetBias', 'num'], seed: ['seed', 'num'], task: ['task', 'str'],
  columns: ['columns', 'list'], 'val-fraction': ['valFraction', 'num'], 'eval-every': ['evalEvery', 'num'],
  'diag-every': ['diagEvery', 'num'], 'spectrum-every': ['spectrumEvery', 'num'], 'max-file-bytes': ['maxFileBytes', 'num'],
  'checkpoint-every': ['checkpointEvery', 'num'], 'checkpoint-seconds': ['checkpointSeconds', 'num'], name: ['name', 'str'],
  precision: ['precision', 'str'],
  ...SEQ2SEQ_FLAG_KEYS,
};

function configFromFlags(file: string, flags: Map<string, string>): RunConfig {
  let raw: Record<string, unknown> = {};
  const cfgFile = flags.get('config');
  if (cfgFile) {
    try {
      raw = JSON.parse(readFileSync(cfgFile, 'utf8'));
    } catch (e) {
      throw new EngineError('bad-config', `${cfgFile}: ${(e as Error).message}`, 'Fix the JSON and try again.');
    }
  }
  for (const [flag, value] of flags) {
    if (flag === 'config' || flag === 'out' || flag === 'quiet') continue;
    const entry = FLAG_KEYS[flag];
    if (!entry) throw new UsageError(`unknown option --${flag} (see rnn-lab train --help)`);
    const [key, kind] = entry;
    if (kind === 'num') {
      const n = Number(value);
      if (value.trim() === '' || Number.isNaN(n)) throw new UsageError(`--${flag} needs a number, got "${value}"`);
      raw[key] = n;
    } else if (kind === 'list') raw[key] = value.split(',').map((s) => (/^\d+$/.test(s) ? Number(s) : s));
    else raw[key] = value;
  }
  raw.data = file;
  if (raw.task === undefined && /\.csv$/i.test(file)) raw.task = 'forecast';
  if (raw.name === undefined) raw.name = `${raw.cell ?? DEFAULT_CONFIG.cell}-${file.split(/[\\/]/).pop()?.replace(/\.[^.]*$/, '')}`;
  const { config, warnings } = validateConfig(raw, cfgFile ?? 'options');
  for (const w of warnings) console.error(`warning: ${w}`);
  return config;
}

async function train(file: string, flags: Map<string, string>, quiet = false): Promise<string> {
  const config = configFromFlags(file, flags);
  if (!existsSync(file)) throw new EngineError('bad-config', `${file} does not exist`, 'Check the path.');
  const stat = statSync(file);
  if (!stat.isFile()) throw new EngineError('bad-config', `${file} is not a file`, 'Give the path of a text or CSV file.');
  // The size cap is checked before reading, so an oversized file never enters memory.
  checkFileSize(stat.size, file, config.maxFileBytes);
  const text = decodeText(readFileSync(file), file, config.maxFileBytes);
  datasetFor(config, text); // bad data is refused before a run directory exists
  let run: RunDir;
  try {
    run = await createRunDir(flags.get('out'), config);
  } catch (e) {
    throw new EngineError('bad-config', `cannot create the run directory: ${(e as Error).message}`, 'Pick another --out (a new folder).');
  }
  console.log(`training ${config.cell} ${config.layers}x${config.hidden} on ${file} -> ${run.dir}`);
  await trainInDir(run, config, text, quiet);
  return run.dir;
}

/**
 * train --resume: the run's last checkpoint generation (runFolder/generation.ts) and its config.json
 * (as the user may have edited it: runFolder/repair.ts says what may change). A run interrupted
 * before its first checkpoint starts again from step 0. Before anything is appended, the temp
 * files of a killed writer go, a model left a generation behind is rebuilt from the resume state,
 * and the JSONL files lose a torn last line and the records past the checkpoint's step, so that
 * they read as one uninterrupted run.
 */
async function resume(dir: string, positional: string[], flags: Map<string, string>, quiet = false): Promise<string> {
  const other = [...flags.keys()].filter((k) => k !== 'resume' && k !== 'steps');
  if (other.length) throw new UsageError(`--resume continues a run as it was configured; only --steps may change, not --${other[0]}`);
  if (positional.length > 1) throw new UsageError('train --resume takes at most one data FILE (when the data file moved)');
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new EngineError('bad-config', `${dir} is not a run directory`, 'Pick a run directory written by rnn-lab train.');
  const run = runDir(dir);
  const { fs, id } = run;
  const configPath = join(dir, runFiles.config);
  const configText = await readText(fs, runPath(id, runFiles.config));
  let edited: Record<string, unknown> | undefined;
  if (configText !== undefined) {
    try {
      edited = JSON.parse(configText.replace(/^\uFEFF/, ''));
    } catch (e) {
      throw new EngineError('bad-config', `${configPath} is not valid JSON (${(e as Error).message.split('\n')[0]})`, 'Fix it (only steps, evalEvery, diagEvery and the like may change on a resume), then resume again.');
    }
  }
  const removed = await removeStaleTemps(fs, id);
  const stored = await readGeneration(fs, id, dir);
  let config: RunConfig;
  let doneStep = 0;
  switch (stored.kind) {
    case 'broken':
      throw new EngineError('bad-checkpoint', `cannot resume ${dir}: ${stored.reason}`, 'Resume needs the checkpoint and resume.safetensors written together by the same run.');
    case 'model':
      throw new EngineError('bad-checkpoint', `${dir} has no ${runFiles.resume} (the optimizer and RNG state an exact resume needs)`, 'Runs trained by rnn-lab train keep it; start a new run from the checkpoint otherwise.');
    case 'none':
      if (edited === undefined) throw new EngineError('bad-config', `${dir} has neither a checkpoint nor a config.json`, 'Pick a run directory written by rnn-lab train.');
      config = validateConfig(edited, configPath).config;
      break;
    case 'resumable':
      {
        const where = join(dir, runFiles.checkpoint);
        const storedConfig = isSeq2SeqCheckpoint(stored.model, where) ? loadSeq2SeqCheckpoint(stored.model, where).config : loadCheckpoint(stored.model, where).config;
        config = resumedConfig(storedConfig, edited, configPath);
      }
      doneStep = stored.step;
      break;
  }
  if (flags.has('steps')) {
    const steps = Number(flags.get('steps'));
    if (!Number.isInteger(steps) || steps < 1) throw new UsageError(`--steps needs a whole number, got "${flags.get('steps')}"`);
    config = validateConfig({ ...config, steps }, 'options').config;
  }
  if (config.steps <= doneStep) {
    throw new EngineError('bad-config', `${dir} is already at step ${doneStep} of ${config.steps}`, `Pass --steps N with N above ${doneStep} to train further.`);
  }
  // A generated seq2seq task has no data file: the run makes its data from the config.
  const generated = isSeq2SeqTask(config.task) && config.task !== 'seq2seq';
  let text = '';
  if (!generated) {
    const file = positional[0] ?? config.data;
    if (!existsSync(file)) throw new EngineError('bad-config', `the run's data file ${file} does not exist`, 'Pass the data file after RUN_DIR: rnn-lab train --resume RUN_DIR FILE.');
    text = decodeText(readFileSync(file), file, config.maxFileBytes);
  }
  // Every check of the resume happens here, before a file of the run is written.
  const resumeFrom = stored.kind === 'resumable' ? { checkpoint: stored.model, state: stored.state, where: dir } : undefined;
  if (isSeq2SeqTask(config.task)) {
    const trainer = new Seq2SeqTrainer(config, seq2seqData(config, generated ? undefined : text));
    if (resumeFrom) restoreSeq2SeqTrainer(trainer, resumeFrom.checkpoint, resumeFrom.state, dataFingerprint(text), dir);
  } else {
    const dataset = datasetFor(config, text);
    if (resumeFrom) restoreTrainer(new Trainer(config, dataset), resumeFrom.checkpoint, resumeFrom.state, dataFingerprint(text), dir);
  }
  if (removed.length) console.log(`removed ${removed.join(', ')} (left by a writer that was killed)`);
  if (await repairGeneration(fs, id, stored)) console.log(`${runFiles.checkpoint} rebuilt from ${runFiles.resume} (step ${doneStep})`);
  for (const name of [runFiles.metrics, runFiles.diagnostics, runFiles.eval]) {
    const chunks = await chunkNames(fs, id, name);
    const at = (i: number) => runPath(id, chunks[i]);
    const repaired = await repairJsonlChunks(async (i) => (await readText(fs, at(i))) ?? '', chunks.length, doneStep, (i) => join(dir, chunks[i]));
    for (const [i, text] of repaired.entries()) {
      if (text === null) await fs.delete(at(i));
      else if (text !== undefined) await writeAtomic(fs, at(i), text);
    }
  }
  // config.json is written only when it changes: by --steps, or when it was missing.
  if (edited === undefined) await writeConfig(fs, id, config);
  else if (flags.has('steps') && edited.steps !== config.steps) await writeAtomic(fs, runPath(id, runFiles.config), JSON.stringify({ ...edited, steps: config.steps }, null, 2) + '\n');
  console.log(doneStep > 0 ? `resuming ${config.cell} ${config.layers}x${config.hidden} in ${dir} from step ${doneStep} to ${config.steps}` : `restarting ${config.cell} ${config.layers}x${config.hidden} in ${dir} from step 0 (interrupted before its first checkpoint) to ${config.steps}`);
  await trainInDir(run, config, text, quiet, resumeFrom, doneStep);
  return dir;
}

/** The exit codes of the signals a run stops on: 128 + the signal's number, as shells report them. */
const STOP_SIGNALS = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 } as const;

/**
 * A pause at each stage of a checkpoint generation's write (RNN_LAB_TEST_GENERATION_PAUSE_MS), so
 * that the kill loop's SIGKILLs land inside writes. Tests only.
 */
function generationPause(): ((stage: GenerationStage) => Promise<void>) | undefined {
  const ms = Number(process.env.RNN_LAB_TEST_GENERATION_PAUSE_MS);
  return ms > 0 ? () => new Promise((resolve) => setTimeout(resolve, ms)) : undefined;
}

/**
 * Trains into a run directory. The session posts synchronously; its writes go through one queue
 * so they land in the order posted (a checkpoint generation's resume state before its model,
 * summary.json last). A write that fails stops the run and is the CLI's error.
 */
async function trainInDir(run: RunDir, config: RunConfig, text: string, quiet: boolean, resumeFrom?: SessionStart['resume'], fromStep = 0): Promise<void> {
  const { fs, id, dir } = run;
  const pause = generationPause();
  let checkpointStep = fromStep;
  let failed: string | undefined;
  const metricsChunk = await lastChunkName(fs, id, runFiles.metrics);
  const diagnosticsChunk = await lastChunkName(fs, id, runFiles.diagnostics);
  const evalChunk = await lastChunkName(fs, id, runFiles.eval);
  let writes: Promise<void> = Promise.resolve();
  let writeError: unknown;
  const write = (f: () => Promise<void>) => {
    writes = writes.then(() => (writeError === undefined ? f() : undefined)).catch((e) => void (writeError ??= e));
  };
  const post = (m: FromWorker) => {
    switch (m.type) {
      case 'started':
        console.log(`${m.paramCount.toLocaleString('en-US')} parameters${m.vocab ? `, vocabulary of ${m.vocab.length}` : ''}`);
        break;
      case 'metrics':
        write(() => appendRecord(fs, id, metricsChunk, m.record));
        if (!quiet && (m.record.step % 25 === 0 || m.record.step === 1 || m.record.valLoss !== undefined)) console.log(progressLine(m.record));
        break;
      case 'diagnostics':
        write(() => appendRecord(fs, id, diagnosticsChunk, m.record));
        break;
      case 'seq2seqEval':
        write(() => appendRecord(fs, id, evalChunk, m.record));
        if (!quiet) console.log(evalLine(m.record));
        break;
      case 'checkpoint': {
        const { step } = m;
        write(async () => {
          await writeCheckpoint(fs, id, m.bytes, m.resumeState, pause);
          checkpointStep = step;
        });
        break;
      }
      case 'log':
        console.log(m.message);
        break;
      case 'done':
        write(() => writeSummary(fs, id, m.summary));
        if (m.summary.status === 'failed' || m.summary.status === 'diverged') failed = m.summary.message;
        // A diverged run's message names the step that failed; summary.step is the last good one.
        if (m.summary.status === 'diverged') console.log(`${m.summary.message} Metrics and the checkpoint of step ${m.summary.step} are saved.`);
        else console.log(`${m.summary.status} at step ${m.summary.step}${m.summary.message ? `: ${m.summary.message}` : ''}`);
        break;
    }
  };
  // The first stop signal ends training after the current step, with a last checkpoint and the
  // summary; a second one exits at once (the generation on disk is whole either way).
  let signal: keyof typeof STOP_SIGNALS | undefined;
  const handlers = (Object.keys(STOP_SIGNALS) as (keyof typeof STOP_SIGNALS)[]).map((name) => {
    const handler = () => {
      if (signal) process.exit(STOP_SIGNALS[name]);
      signal = name;
    };
    process.on(name, handler);
    return () => process.off(name, handler);
  });
  try {
    await runSession({ runId: dir, config, dataText: text, resume: resumeFrom, keepResumable: true }, post, () => signal !== undefined || writeError !== undefined);
    await writes;
  } finally {
    for (const off of handlers) off();
  }
  if (writeError !== undefined) {
    if (writeError instanceof EngineError && writeError.code === 'disk-full') {
      const kept = checkpointStep > 0 ? `it continues from its last checkpoint (step ${checkpointStep})` : 'it starts again (no checkpoint was written)';
      throw new EngineError('disk-full', writeError.message, `Free some space, then rnn-lab train --resume ${dir}: ${kept}`);
    }
    throw new EngineError('bad-config', `cannot write the run directory ${dir}: ${(writeError as Error)?.message ?? writeError}`, 'Check the disk (space, permissions); the records written so far are kept.');
  }
  if (failed) process.exitCode = 2;
  if (signal) {
    console.log(`${signal}: the checkpoint of step ${checkpointStep} is saved; rnn-lab train --resume ${dir} continues it`);
    process.exitCode = STOP_SIGNALS[signal];
  }
  console.log(`run saved in ${dir}`);
}

/** export: a run's weights as a PyTorch state_dict file. */
async function exportRun(target: string, flags: Map<string, string>): Promise<void> {
  const dtypeFlag = (flags.get('dtype') ?? 'f64').toLowerCase();
  if (dtypeFlag !== 'f64' && dtypeFlag !== 'f32') throw new UsageError(`--dtype must be f64 or f32, got "${flags.get('dtype')}"`);
  const prefix = flags.get('prefix') ?? '';
  if (prefix && !/^[\w.]*\.$/.test(prefix)) throw new UsageError(`--prefix must be a module path ending in a dot (e.g. rnn.), got "${prefix}"`);
  const isRun = existsSync(target) && statSync(target).isDirectory();
  const found = isRun ? await latestModel(runDir(target).fs, runDir(target).id) : undefined;
  const model = found && !('problem' in found) ? { bytes: found.bytes, where: join(dirname(target), found.where) } : undefined;
  const ckpt = model?.where ?? target;
  if (!model && (!existsSync(ckpt) || !/\.safetensors$/i.test(target))) {
    throw new EngineError('bad-checkpoint', `${target} is neither a run directory with checkpoint.safetensors nor a .safetensors file`, 'Pick a run directory written by rnn-lab train.');
  }
  const out = flags.get('out') ?? join(isRun ? target : '.', 'pytorch.safetensors');
  if (existsSync(out)) throw new EngineError('bad-config', `${out} already exists`, 'Pick another --out; export never overwrites a file.');
  const bytes = model?.bytes ?? new Uint8Array(readFileSync(ckpt));
  if (isSeq2SeqCheckpoint(bytes, ckpt)) {
    for (const line of await exportSeq2Seq(bytes, ckpt, out, dtypeFlag === 'f32' ? 'F32' : 'F64')) console.log(line);
    return;
  }
  const result = exportStateDict(bytes, ckpt, dtypeFlag === 'f32' ? 'F32' : 'F64', prefix);
  for (const w of result.warnings) console.error(`warning: ${w}`);
  await writeFileAtomic(out, result.bytes);
  console.log(`wrote ${out} (${result.bytes.length.toLocaleString('en-US')} bytes, ${dtypeFlag}); in PyTorch:`);
  console.log('  from safetensors.torch import load_file');
  for (const line of result.modules) console.log(`  ${line}`);
  console.log(`  sd = load_file(${JSON.stringify(out)})`);
  for (const line of result.modules) {
    const n = line.split(' ')[0];
    const pre = n === 'rnn' ? prefix : `${n}.`;
    // Unprefixed recurrent names are the ones without a dot (embedding.weight and head.* have one).
    const pick = pre ? `k.startswith(${JSON.stringify(pre)})` : "'.' not in k";
    console.log(`  ${n}.load_state_dict({k[${pre.length}:]: v for k, v in sd.items() if ${pick}})`);
  }
}

/** import: a PyTorch state_dict file made into a run directory (written whole or not at all). */
async function importRun(file: string, flags: Map<string, string>): Promise<string> {
  const gruVariant = flags.get('gru-variant');
  if (gruVariant !== undefined && gruVariant !== 'reset_after' && gruVariant !== 'reset_before') throw new UsageError(`--gru-variant must be reset_after or reset_before, got "${gruVariant}"`);
  const activation = flags.get('activation');
  if (activation !== undefined && activation !== 'tanh' && activation !== 'relu') throw new UsageError(`--activation must be tanh or relu, got "${activation}"`);
  if (!existsSync(file)) throw new EngineError('bad-checkpoint', `${file} does not exist`, 'Check the path.');
  const vocabFile = flags.get('vocab');
  let vocab: string[] | undefined;
  let text: string | undefined;
  if (vocabFile !== undefined) {
    if (!existsSync(vocabFile)) throw new EngineError('bad-config', `vocabulary file ${vocabFile} does not exist`, 'Check the path.');
    const content = decodeText(readFileSync(vocabFile), vocabFile, DEFAULT_CONFIG.maxFileBytes);
    vocab = vocabularyFrom(content, vocabFile);
    if (!/\.json$/i.test(vocabFile)) text = content;
  }
  const name = flags.get('name') ?? `import-${basename(file).replace(/\.safetensors$/i, '')}`;
  const run = importAsRun(new Uint8Array(readFileSync(file)), file, { gruVariant: gruVariant as GruVariant | undefined, rnnActivation: activation as 'tanh' | 'relu' | undefined, vocab, vocabSource: vocabFile, name, text });
  const dir = await writeRunDirWhole(flags.get('out'), run.config, importedRunFiles(run, file));
  for (const w of run.warnings) console.error(`warning: ${w}`);
  console.log(`imported ${file}: ${run.description}`);
  for (const s of run.diagnostics.spectrum) console.log(`  sigma_1 W_hh layer ${s.layer} ${s.block.padEnd(3)} ${s.sigma1.toFixed(4)} (1/gamma = ${s.reference})`);
  if (run.summary.valBpc !== undefined) console.log(`  on ${vocabFile}: validation bpc ${run.summary.valBpc.toFixed(3)}, training-chunk bpc ${run.summary.bpc!.toFixed(3)}`);
  console.log(`run saved in ${dir}`);
  return dir;
}

function progressLine(r: MetricsRecord): string {
  const parts = [`step ${String(r.step).padStart(5)}`, `loss ${r.loss.toFixed(4)}`];
  if (r.bpc !== undefined) parts.push(`bpc ${r.bpc.toFixed(3)}`);
  if (r.valLoss !== undefined) parts.push(`val ${r.valBpc !== undefined ? `bpc ${r.valBpc.toFixed(3)}` : `loss ${r.valLoss.toFixed(4)}`}`);
  parts.push(`|g| ${r.gradNorm.toFixed(2)}${r.clipped ? ` -> ${r.gradNormClipped.toFixed(2)}` : ''}`);
  if (r.perplexity !== undefined) parts.push(`ppl ${r.perplexity.toFixed(3)}`);
  parts.push(`${r.charsPerSec.toLocaleString('en-US')} ${r.perplexity !== undefined ? 'target tokens' : 'chars'}/s`);
  return parts.join('  ');
}

/** Loads a run's latest checkpoint (runFolder/generation.ts latestModel: also while it trains) into a Network. */
export async function loadRun(dir: string): Promise<LoadedModel> {
  const { fs, id } = runDir(dir);
  const model = await latestModel(fs, id);
  if ('problem' in model) {
    if (!existsSync(join(dir, runFiles.config))) throw new EngineError('bad-checkpoint', `${dir} has no ${runFiles.checkpoint}`, 'Train the run first, or pick another run directory.');
    throw new EngineError('bad-checkpoint', `${dir} has no model: ${model.problem}`, model.problem === noModelYet ? 'rnn-lab train --resume it, or pick another run.' : 'Pick another run.');
  }
  return loadCheckpoint(model.bytes, join(dirname(dir), model.where));
}

async function sample(dir: string, flags: Map<string, string>): Promise<string> {
  const { net, vocab } = await loadRun(dir);
  if (!vocab) throw new EngineError('bad-config', `${dir} is a forecasting run`, 'Sampling text needs a character-LM run.');
  const num = (k: string, d: number) => {
    const v = flags.get(k);
    if (v === undefined) return d;
    const n = Number(v);
    if (!Number.isFinite(n)) throw new UsageError(`--${k} needs a number, got "${v}"`);
    return n;
  };
  const temperature = num('temperature', 0.8);
  if (!(temperature > 0)) throw new UsageError('--temperature must be above 0');
  return sampleText(net, vocab, { length: num('length', 300), temperature, topK: num('top-k', 0), prime: flags.get('prime') ?? '' }, new Rng(num('seed', 7)));
}

async function report(dir: string): Promise<string> {
  const run = runDir(dir);
  const metrics = await readRecords<MetricsRecord>(run, runFiles.metrics);
  const diags = await readRecords<DiagnosticsRecord>(run, runFiles.diagnostics);
  if (metrics.length === 0 && diags.length === 0) throw new EngineError('bad-config', `${dir} has no metrics.jsonl or diagnostics.jsonl records`, 'Pick a run directory written by rnn-lab train or rnn-lab import.');
  if (!existsSync(join(dir, runFiles.config))) throw new EngineError('bad-config', `${dir} has no config.json`, 'Pick a run directory written by rnn-lab train or rnn-lab import.');
  const config = JSON.parse(readFileSync(join(dir, runFiles.config), 'utf8')) as RunConfig;
  const lines: string[] = [];
  if (isSeq2SeqTask(config.task)) lines.push(...(await seq2seqReportLines(run, config)));
  lines.push(`run ${dir}: ${config.cell} ${config.layers}x${config.hidden}, seq ${config.seqLength}, batch ${config.batch}, ${config.optimizer} lr ${config.lr}, clip ${config.clipMode} ${config.clip}`);
  if (metrics.length === 0) {
    const importJson = join(dir, runFiles.import);
    lines.push(existsSync(importJson) ? `imported, not trained: ${(JSON.parse(readFileSync(importJson, 'utf8')) as { description: string }).description}` : 'no training steps yet');
    const summaryJson = join(dir, runFiles.summary);
    const measured = existsSync(summaryJson) ? (JSON.parse(readFileSync(summaryJson, 'utf8')) as RunSummary) : undefined;
    if (measured?.valBpc !== undefined) lines.push(`measured at import: validation bpc ${measured.valBpc.toFixed(3)}, training-chunk bpc ${measured.bpc?.toFixed(3)}`);
  } else {
    const last = metrics[metrics.length - 1];
    lines.push(`steps ${last.step}, final loss ${last.loss.toFixed(4)}${last.bpc !== undefined ? ` (bpc ${last.bpc.toFixed(3)})` : ''}`);
    const val = [...metrics].reverse().find((m) => m.valLoss !== undefined);
    if (val) lines.push(`validation at step ${val.step}: loss ${val.valLoss!.toFixed(4)}${val.valBpc !== undefined ? ` (bpc ${val.valBpc.toFixed(3)})` : ''}`);
    const norms = metrics.map((m) => m.gradNorm).sort((a, b) => a - b);
    lines.push(`gradient norm before clipping: median ${norms[Math.floor(norms.length / 2)].toFixed(3)}, max ${norms[norms.length - 1].toFixed(3)}; clipping fired on ${(100 * last.clipFraction).toFixed(1)}% of steps`);
  }
  const d = diags[diags.length - 1];
  if (d) {
    const first = diags[0];
    lines.push(`diagnostics at step ${d.step} (first at step ${first.step}):`);
    for (const s of d.spectrum) {
      const s0 = first.spectrum.find((x) => x.layer === s.layer && x.block === s.block);
      lines.push(`  sigma_1 W_hh layer ${s.layer} ${s.block.padEnd(3)} ${s.sigma1.toFixed(3)} (step ${first.step}: ${s0?.sigma1.toFixed(3)}; 1/gamma = ${s.reference})`);
    }
    for (const s of d.saturation) {
      lines.push(`  saturation layer ${s.layer} gate ${s.gate}: left ${(100 * s.left).toFixed(1)}%, right ${(100 * s.right).toFixed(1)}%`);
    }
    for (const f of d.flow) {
      const pick = (a: number[]) => [0, 1, 5, 10, 20, a.length - 1].filter((k, i, arr) => k < a.length && arr.indexOf(k) === i).map((k) => `k=${k}: ${a[k].toExponential(2)}`).join(', ');
      lines.push(`  flow layer ${f.layer} ||dL_T/dh_(T-k)||  ${pick(f.h)}`);
      if (f.c) lines.push(`  flow layer ${f.layer} ||dL_T/dc_(T-k)||  ${pick(f.c)}`);
    }
  }
  return lines.join('\n');
}

function oracle(files: string[]): number {
  if (files.length === 0) throw new UsageError('oracle needs at least one fixture file');
  let worst = 0;
  let worst32 = 0;
  const simd = kernelArena() !== null;
  for (const file of files) {
    let fixture: unknown;
    try {
      fixture = JSON.parse(readFileSync(file, 'utf8'));
    } catch (e) {
      throw new EngineError('bad-oracle', `${file}: ${(e as Error).message}`, 'Pass a fixture JSON file.');
    }
    const r = checkOracleFile(fixture);
    worst = Math.max(worst, r.maxError);
    const worstQ = r.quantities.reduce((a, b) => (b.error > a.error ? b : a));
    console.log(`${r.fixture}: max error ${r.maxError.toExponential(2)} (${worstQ.name}) over ${r.quantities.length} quantities ${r.maxError <= 1e-9 ? 'ok' : 'FAIL'}`);
    for (const q of r.quantities) console.log(`  ${q.name.padEnd(40)} ${q.error.toExponential(2)}${q.absError === undefined ? '' : `  (abs ${q.absError.toExponential(2)})`}`);
    if (simd && !isSeq2SeqOracle(fixture)) {
      const r32 = checkFixture(fixture as OracleFixture, 'float32');
      worst32 = Math.max(worst32, r32.maxError);
      console.log(`  float32 (WebAssembly SIMD): max error ${r32.maxError.toExponential(2)} ${r32.maxError <= 2e-5 ? 'ok' : 'FAIL'}`);
    }
  }
  console.log(`worst error ${worst.toExponential(2)} (float64 engine, threshold 1e-9)`);
  if (simd) console.log(`worst error ${worst32.toExponential(2)} (float32 WebAssembly SIMD path, threshold 2e-5)`);
  else console.log('float32 path not checked: this host has no WebAssembly SIMD (float32 runs use the float64 engine)');
  return worst <= 1e-9 && worst32 <= 2e-5 ? 0 : 1;
}

async function demo(): Promise<void> {
  const here = resolve(__dirname, '..');
  const data = join(here, 'data', 'austen_pride_prejudice.txt');
  const flags = new Map<string, string>([
    // About a minute of one core on the float32 WebAssembly SIMD path: 2.4M characters, about four
    // passes over the book, which takes validation bpc to about 2.0.
    ['cell', 'lstm'], ['hidden', '128'], ['seq', '64'], ['batch', '32'], ['steps', '1200'], ['lr', '0.01'],
    ['eval-every', '200'], ['name', 'demo-lstm-austen'],
  ]);
  const dir = await train(data, flags);
  console.log('\nsamples (temperature 0.7, primed with "Elizabeth"):\n');
  for (const seed of [1, 2]) {
    console.log('---');
    console.log('Elizabeth' + (await sample(dir, new Map([['temperature', '0.7'], ['length', '240'], ['prime', 'Elizabeth'], ['seed', String(seed)]]))));
  }
  console.log('---\n');
  console.log(await report(dir));
  console.log(`\nrun saved in ${dir}`);
}

/** The options each command takes besides --help (train's come from FLAG_KEYS). */
const OPTIONS: Record<string, string[]> = {
  sample: ['temperature', 'length', 'prime', 'top-k', 'seed'],
  report: [],
  translate: ['beam', 'alpha'],
  oracle: [],
  demo: [],
  export: ['out', 'dtype', 'prefix'],
  'export-pytorch': ['out', 'data'],
  import: ['out', 'vocab', 'gru-variant', 'activation', 'name'],
};

async function main(argv: string[]): Promise<number> {
  // A reader gone (EPIPE: `rnn-lab train ... | head`), a closed terminal (EIO) or a full disk
  // under a redirect (ENOSPC) ends the printing, never the run: without a listener the stream's
  // 'error' event would be thrown and kill the process.
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {});
  const [cmd, ...rest] = argv;
  if (cmd === '--help' || cmd === '-h' || cmd === 'help') {
    process.stdout.write(usage());
    return 0;
  }
  if (!cmd) throw new UsageError(`no command given (commands: ${Object.keys(HELP).join(', ')}; rnn-lab --help for usage)`);
  if (!(cmd in HELP)) throw new UsageError(`unknown command "${cmd}" (commands: ${Object.keys(HELP).join(', ')})`);
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(HELP[cmd]);
    return 0;
  }
  const { positional, flags } = cmd === 'bench' ? { positional: [], flags: new Map<string, string>() } : parseFlags(rest);
  const allowed = OPTIONS[cmd];
  const unknown = allowed ? [...flags.keys()].find((k) => !allowed.includes(k)) : undefined;
  if (unknown !== undefined) throw new UsageError(`${cmd} has no option --${unknown} (see rnn-lab ${cmd} --help)`);
  const one = (what: string) => {
    if (positional.length !== 1) throw new UsageError(`${cmd} needs exactly one ${what}${positional.length ? `, got ${positional.length}: ${positional.join(' ')}` : ''} (see rnn-lab ${cmd} --help)`);
    return positional[0];
  };
  switch (cmd) {
    case 'train':
      if (flags.has('resume')) await resume(flags.get('resume')!, positional, flags);
      else if (isSeq2SeqTask(flags.get('task'))) await trainSeq2Seq(positional, flags, { configFromFlags, trainInDir });
      else await train(one('data FILE'), flags);
      return Number(process.exitCode ?? 0);
    case 'sample':
      console.log(await sample(one('RUN_DIR'), flags));
      return 0;
    case 'report':
      console.log(await report(one('RUN_DIR')));
      return 0;
    case 'oracle':
      return oracle(positional);
    case 'translate':
      if (positional.length !== 2) throw new UsageError('translate needs RUN_DIR and "TEXT" (see rnn-lab translate --help)');
      console.log(await translate(positional[0], positional[1], flags));
      return 0;
    case 'demo':
      if (positional.length) throw new UsageError('demo takes no arguments');
      await demo();
      return 0;
    case 'export':
      await exportRun(one('RUN_DIR (or checkpoint .safetensors file)'), flags);
      return 0;
    case 'export-pytorch': {
      const dir = one('RUN_DIR');
      const out = flags.get('out');
      if (!out) throw new UsageError('export-pytorch needs --out DIR (a new folder for the project)');
      const names = await exportPytorch(dir, out, flags.get('data'));
      console.log(`wrote ${out}: ${names.filter((n) => !n.includes('/')).join(', ')}, data/, run/`);
      console.log(`  cd ${out} && python train.py --steps N        (or: torchrun --nproc_per_node=2 train.py --steps N)`);
      return 0;
    }
    case 'import':
      await importRun(one('FILE.safetensors'), flags);
      return 0;
    case 'bench': {
      if (rest[0] === '--child') {
        // Internal: one engine of the bench in its own process (see bench/child.ts).
        await benchChild();
        return 0;
      }
      const json = rest.includes('--json');
      const quick = rest.includes('--quick');
      const seq2seqOnly = rest.includes('--seq2seq');
      const unknown = rest.filter((a) => a !== '--json' && a !== '--quick' && a !== '--seq2seq');
      if (unknown.length) throw new UsageError(`bench takes only --quick and --json, or --seq2seq, got ${unknown.join(' ')}`);
      const log = json ? () => {} : console.log;
      const result = seq2seqOnly ? {} : await runBench(join(resolve(__dirname, '..'), 'data', 'austen_pride_prejudice.txt'), { quick, log });
      // The seq2seq config trains to a target, minutes per engine: full runs and --seq2seq only.
      const s2s = quick && !seq2seqOnly ? undefined : runSeq2SeqBench(600, log);
      if (json) console.log(JSON.stringify(s2s ? { ...result, seq2seq: s2s } : result));
      return 0;
    }
  }
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    if (err instanceof EngineError) console.error(`rnn-lab: ${err.line}`);
    else if (err instanceof UsageError) console.error(`rnn-lab: ${err.message}`);
    // A file system refusal (permissions, a name too long, ...) is the user's to fix: one line, no stack.
    else if (typeof err?.code === 'string' && /^E[A-Z]+$/.test(err.code)) console.error(`rnn-lab: ${err.message}. Check the path and its permissions.`);
    else console.error(`rnn-lab: ${err?.stack ?? err}`);
    process.exit(2);
  },
);
