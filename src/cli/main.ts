#!/usr/bin/env node
/**
 * `rnn-lab`: train, sample, report and check against the oracles without VS Code.
 * Usage errors and errors a user can cause print one line and exit 2.
 */
import { existsSync, statSync, type Stats } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { isSeq2SeqTask, type GruVariant, type MetricsRecord, type RunConfig } from '../protocol/config';
import type { FromWorker } from '../protocol/trainingWorker';
import { isSeq2SeqCheckpoint, loadSeq2SeqCheckpoint, restoreSeq2SeqTrainer } from '../engine/seq2seqCheckpoint';
import { Seq2SeqTrainer, seq2seqData } from '../engine/seq2seqTrainer';
import { validateConfig, DEFAULT_CONFIG } from '../engine/config';
import { clip, EngineError, fitLine, quote } from '../engine/errors';
import { checkOracleFile, validateFixture } from '../engine/oracle';
import { kernelArena } from '../engine/wasm/kernels';
import { loadCheckpoint, type LoadedModel } from '../engine/checkpoint';
import { Rng } from '../engine/random';
import { sampleText } from '../engine/sample';
import { datasetFor, runSession, type SessionStart } from '../engine/session';
import { nodeParallelHost } from '../worker/nodeParallel';
import { dataFingerprint, restoreTrainer } from '../engine/resume';
import { exportStateDict, importAsRun, vocabularyFrom } from '../engine/interop';
import { decodeSafetensors, type DecodedSafetensors } from '../engine/safetensors';
import { importSeq2SeqAsRun, isSeq2SeqStateDict } from '../engine/seq2seqImport';
import { Trainer } from '../engine/trainer';
import { BENCH_CONFIGS, runBench } from './bench';
import { exportPytorch } from './exportPytorch';
import { evalLine, exportSeq2Seq, SEQ2SEQ_FLAG_KEYS, SEQ2SEQ_HELP, seq2seqReportLines, trainSeq2Seq, translate } from './seq2seq';
import { benchChild } from './bench/child';
import { sweepConfigArg, SWEEP_HELP, trainSweep } from './sweep';
import { runSeq2SeqBench } from './bench/seq2seq';
import { fileProblem, lstatOrUndefined, readDataFile, MAX_CHECKPOINT_BYTES, MAX_FIXTURE_BYTES, readJsonFile, readRegularFile, shown, writeFileAtomic } from './files';
import { latestModel, noModelYet, readGeneration, removeStaleTemps, repairGeneration, type GenerationStage } from '../runFolder/generation';
import { repairJsonlChunks, resumedConfig } from '../runFolder/repair';
import { takeWriterLock } from './writerLock';
import { appendLines, chunkNames, importedRunFiles, lastChunkName, readChunkText, runFiles, runPath, writeAtomic, writeCheckpoint, writeConfig, writeSummary } from '../runFolder/runFolder';
import { checkNewRunDir, createRunDir, readRecords, runDir, writeRunDirWhole, type RunDir } from './runDir';

class UsageError extends Error {}

/** The longest sample printed (the extension's sampler has the same bound). */
const MAX_SAMPLE_LENGTH = 20_000;

const HELP: Record<string, string> = {
  train: `rnn-lab train FILE [--config F.rnn.json] [--cell lstm|gru|rnn] [--layers N] [--hidden N] [--seq N]
              [--batch N] [--steps N] [--lr X] [--optim adam|sgd|rmsprop|adagrad] [--clip X]
              [--clip-mode norm|value|none] [--init orthogonal|identity|gaussian] [--scale X]
              [--task charlm|forecast] [--columns a,b] [--seed N] [--diag-every N] [--out RUN_DIR]
              [--checkpoint-seconds S] [--checkpoint-every N] [--precision float32|float64]
              [--workers K]
       rnn-lab train --resume RUN_DIR [--steps N] [--workers K] [FILE]
  Trains on a text file (character LM) or a CSV column (forecasting); writes a run directory.
  --precision float32 (the default) trains on the WebAssembly SIMD kernels where the host has them;
  float64 is the exact reference engine (seq2seq tasks always train in float64).
  --workers K splits each step's batch over K worker threads (0, the default: the cores minus
  one; at most the batch), their gradients summed in a fixed order: the same K gives the same
  bits every time, and another K agrees to float rounding. Seq2seq tasks train on one.
  A checkpoint (model and resume state) is written every 30 s of training (--checkpoint-seconds),
  every N steps if --checkpoint-every is given, and at the end; Ctrl-C, SIGTERM and SIGHUP write
  one and exit 130, 143, 129.
  --resume continues a run from its last checkpoint (optimizer, RNG, data position, carried
  state) exactly as if it had not stopped, however it stopped; --steps raises its total.
${SEQ2SEQ_HELP.train}
${SWEEP_HELP}`,
  translate: SEQ2SEQ_HELP.translate,
  sample: `rnn-lab sample RUN_DIR [--temperature X] [--length N] [--prime TEXT] [--top-k N] [--seed N]
  Prints text sampled from a trained character model: --length up to ${MAX_SAMPLE_LENGTH} characters
  (default 300), --temperature above 0 (0.8; near 0 is greedy), --top-k a positive whole number.`,
  report: `rnn-lab report RUN_DIR
  Prints a summary: final loss, sigma_1 of W_hh per layer and gate, clipping, saturation, gradient flow.`,
  oracle: `rnn-lab oracle FILE...
  Checks the engine against oracle fixtures (PyTorch float64): the language-model format and the
  seq2seq one ("format": "rnn-lab-seq2seq-oracle/1"). Prints each quantity's error
  max|ours - ref| / max|ref|: the float64 engine within 1e-9, and the float32 WebAssembly SIMD
  path too (where the host has SIMD) within 2e-5; exits 1 if any exceeds.`,
  export: `rnn-lab export RUN_DIR [--out FILE.safetensors] [--dtype f64|f32] [--prefix rnn.] [--force yes]
  Writes the run's weights as a PyTorch state_dict in safetensors (default RUN_DIR/pytorch.safetensors):
  weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0, ... (+ embedding.weight, head.weight, head.bias);
  f64 is exact (load_state_dict converts to a float32 module's dtype), f32 is half the size.
  --prefix puts the recurrent tensors under a submodule name (rnn.weight_ih_l0). Never overwrites
  a file unless --force yes is given.`,
  'export-pytorch': `rnn-lab export-pytorch RUN_DIR --out DIR [--data FILE]
  Writes a PyTorch project that continues the run from its last checkpoint: model.py (torch.nn,
  loads the checkpoint with strict=True), data.py, train.py (python train.py --steps N, or torchrun
  with DistributedDataParallel), rnnlab_logger.py and a README. train.py writes an RNN Lab run folder
  that RNN Lab shows live and rnn-lab train --resume continues. --data: the run's data file when it moved.`,
  import: `rnn-lab import FILE.safetensors [--out RUN_DIR] [--vocab TEXT_OR_JSON] [--gru-variant reset_after|reset_before]
              [--activation tanh|relu] [--name NAME]
  Makes a run from a safetensors state_dict of torch.nn.RNN/LSTM/GRU (with or without embedding and
  head): cell, layers and sizes come from the names and shapes. --vocab gives the vocabulary when the
  file has none (a JSON list of strings, or a text whose sorted distinct characters it is).
  A seq2seq state_dict (src_embedding.weight, encoder.*, decoder.*, attention.*, head.*: the module in
  the README's PyTorch part) becomes a run that translate uses; its --vocab is a JSON object
  {"source": [...], "target": [...]} (each id's token, or those of ids 3 and up) unless the file
  was written by rnn-lab export.`,
  bench: `rnn-lab bench [--quick] [--seq2seq] [--config a,d] [--json]
  Measures training throughput beside tfjs (cpu, wasm) on configs a-d and a vanilla RNN: chars/s,
  ratios, model GFLOP/s vs a tiled-matmul ceiling, peak RSS. --quick: under a minute on an idle machine.
  --config: only the named configs (a, b, c, d, rnn), without the seq2seq config.
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
      if (v === undefined || (!a.includes('=') && v.startsWith('--'))) throw new UsageError(`--${clip(k, 40)} needs a value`);
      if (flags.has(k)) throw new UsageError(`--${clip(k, 40)} is given twice; give it once`);
      flags.set(k, v);
      if (!a.includes('=')) i++;
    } else positional.push(a);
  }
  return { positional, flags };
}

/** A plain decimal number as people type it: no hex, octal, binary, separators or spaces. */
const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/**
 * A flag's number. Number() alone accepts "0x1f", "0b11", " 5 " and "" (as 0) and turns "1e400"
 * into Infinity; these are refused here with the flag named. "Infinity" itself passes, for the
 * range check that reads it. -0 becomes 0.
 */
function numberFlag(flag: string, value: string): number {
  if (/^[+-]?Infinity$/.test(value)) return Number(value);
  if (!DECIMAL.test(value)) throw new UsageError(`--${flag} needs a number, got ${quote(value)}${/^[+-]?0[xob]/i.test(value) ? ' (write it in decimal)' : ''}`);
  const n = Number(value);
  if (!Number.isFinite(n)) throw new UsageError(`--${flag} ${quote(value)} is beyond the largest number (about 1.8e308)`);
  return n === 0 ? 0 : n;
}

/** A flag's whole number in [min, max]. */
function wholeFlag(flag: string, value: string, min: number, max: number): number {
  const n = numberFlag(flag, value);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${flag} must be a whole number from ${min} to ${max.toLocaleString('en-US')}, got ${quote(value)}`);
  return n;
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
  precision: ['precision', 'str'], workers: ['workers', 'num'],
  ...SEQ2SEQ_FLAG_KEYS,
};

function configFromFlags(file: string, flags: Map<string, string>): RunConfig {
  let raw: Record<string, unknown> = {};
  const cfgFile = flags.get('config');
  if (cfgFile !== undefined) {
    const parsed = readJsonFile(cfgFile, 'run config', 'Fix the JSON and try again.');
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new EngineError('bad-config', `${shown(cfgFile)} is not a JSON object`, 'Write the run config as { "cell": "lstm", ... }.');
    }
    // Own keys copied onto a fresh object (a "__proto__" key stays a key; validateConfig warns).
    raw = Object.fromEntries(Object.entries(parsed));
  }
  for (const [flag, value] of flags) {
    if (flag === 'config' || flag === 'out' || flag === 'quiet') continue;
    // Own keys only: "--constructor" or "--__proto__" must not find Object.prototype's members.
    const entry = Object.hasOwn(FLAG_KEYS, flag) ? FLAG_KEYS[flag] : undefined;
    if (!entry) throw new UsageError(`unknown option --${clip(flag, 40)} (see rnn-lab train --help)`);
    const [key, kind] = entry;
    if (kind === 'num') raw[key] = numberFlag(flag, value);
    else if (kind === 'list') raw[key] = value.split(',').map((s) => (/^\d+$/.test(s) && s.length < 10 ? Number(s) : s));
    else raw[key] = value;
  }
  raw.data = file;
  if (raw.task === undefined && /\.csv$/i.test(file)) raw.task = 'forecast';
  // A name derived from the file name is cut to the rule's length, not refused for it.
  if (raw.name === undefined) raw.name = Array.from(`${raw.cell ?? DEFAULT_CONFIG.cell}-${file.split(/[\\/]/).pop()?.replace(/\.[^.]*$/, '')}`).slice(0, 100).join('');
  const { config, warnings } = validateConfig(raw, cfgFile !== undefined ? shown(cfgFile) : 'options');
  for (const w of warnings) console.error(`warning: ${w}`);
  return config;
}

async function train(file: string, flags: Map<string, string>, quiet = false): Promise<string> {
  const config = configFromFlags(file, flags);
  const out = flags.get('out');
  if (out !== undefined) checkNewRunDir(out);
  const text = readDataFile(file, config.maxFileBytes);
  datasetFor(config, text); // bad data, or a model too big for memory, is refused before a run directory exists
  let run: RunDir;
  try {
    run = await createRunDir(out, config);
  } catch (e) {
    if (e instanceof EngineError) throw e;
    throw new EngineError('bad-config', `cannot create the run directory: ${clip((e as Error).message, 120)}`, 'Pick another --out (a new folder).');
  }
  const release = takeWriterLock(run.dir);
  try {
    console.log(`training ${config.cell} ${config.layers}x${config.hidden} on ${file} -> ${run.dir}`);
    await trainInDir(run, config, text, quiet);
  } finally {
    release();
  }
  return run.dir;
}


/** A safetensors file (checkpoint, import source) as bytes, bounded. */
function readSafetensorsFile(path: string, what: string): Uint8Array {
  const b = readRegularFile(path, what, MAX_CHECKPOINT_BYTES, 'bad-checkpoint');
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
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
  const other = [...flags.keys()].filter((k) => k !== 'resume' && k !== 'steps' && k !== 'workers');
  if (other.length) throw new UsageError(`--resume continues a run as it was configured; only --steps and --workers may change, not --${clip(other[0], 40)}`);
  if (positional.length > 1) throw new UsageError('train --resume takes at most one data FILE (when the data file moved)');
  checkRunDir(dir);
  const release = takeWriterLock(dir);
  try {
    return await resumeLocked(dir, positional, flags, quiet);
  } finally {
    release();
  }
}

async function resumeLocked(dir: string, positional: string[], flags: Map<string, string>, quiet: boolean): Promise<string> {
  const run = runDir(dir);
  const { fs, id } = run;
  const configPath = join(dir, runFiles.config);
  // config.json through the bounded reader (a FIFO, a folder or a 100,000-level nesting is refused).
  let edited: Record<string, unknown> | undefined;
  if (lstatOrUndefined(configPath)) {
    const parsed = readJsonFile(configPath, 'run file', 'Fix it (only steps, evalEvery, diagEvery and the like may change on a resume), then resume again.');
    if (!isObj(parsed)) throw new EngineError('bad-config', `${shown(configPath)} is not a JSON object`, 'Restore the run\'s config.json, then resume again.');
    edited = parsed;
  }
  const removed = await removeStaleTemps(fs, id);
  const stored = await readGeneration(fs, id, shown(dir));
  let config: RunConfig;
  let doneStep = 0;
  switch (stored.kind) {
    case 'broken':
      throw new EngineError('bad-checkpoint', `cannot resume ${shown(dir)}: ${stored.reason}`, 'Resume needs the checkpoint and resume.safetensors written together by the same run.');
    case 'model':
      throw new EngineError('bad-checkpoint', `${shown(dir)} has no ${runFiles.resume} (the optimizer and RNG state an exact resume needs)`, 'Runs trained by rnn-lab train keep it; start a new run from the checkpoint otherwise.');
    case 'none':
      if (edited === undefined) throw new EngineError('bad-config', `${shown(dir)} has neither a checkpoint nor a config.json`, 'Pick a run directory written by rnn-lab train.');
      config = validateConfig(edited, shown(configPath)).config;
      break;
    case 'resumable':
      {
        const where = shown(join(dir, runFiles.checkpoint));
        const storedConfig = isSeq2SeqCheckpoint(stored.model, where) ? loadSeq2SeqCheckpoint(stored.model, where).config : loadCheckpoint(stored.model, where).config;
        config = resumedConfig(storedConfig, edited, shown(configPath));
      }
      doneStep = stored.step;
      break;
  }
  if (flags.has('steps')) {
    const steps = wholeFlag('steps', flags.get('steps')!, 1, 10_000_000);
    config = validateConfig({ ...config, steps }, 'options').config;
  }
  // The worker count changes how the step's sums are grouped, not what the run is: it is not written to config.json.
  if (flags.has('workers')) config = validateConfig({ ...config, workers: wholeFlag('workers', flags.get('workers')!, 0, 256) }, 'options').config;
  if (config.steps <= doneStep) {
    throw new EngineError('bad-config', `${shown(dir)} is already at step ${doneStep} of ${config.steps}`, `Pass --steps N with N above ${doneStep} to train further.`);
  }
  // A generated seq2seq task has no data file: the run makes its data from the config.
  const generated = isSeq2SeqTask(config.task) && config.task !== 'seq2seq';
  let text = '';
  if (!generated) {
    const file = positional[0] ?? config.data;
    if (!existsSync(file)) throw new EngineError('bad-config', `the run's data file ${shown(file)} does not exist`, 'Pass the data file after RUN_DIR: rnn-lab train --resume RUN_DIR FILE.');
    text = readDataFile(file, config.maxFileBytes);
  }
  // Every check of the resume happens here, before a file of the run is written.
  const resumeFrom = stored.kind === 'resumable' ? { checkpoint: stored.model, state: stored.state, where: dir } : undefined;
  if (isSeq2SeqTask(config.task)) {
    const trainer = new Seq2SeqTrainer(config, seq2seqData(config, generated ? undefined : text));
    if (resumeFrom) restoreSeq2SeqTrainer(trainer, resumeFrom.checkpoint, resumeFrom.state, dataFingerprint(text), shown(dir));
  } else {
    const dataset = datasetFor(config, text);
    if (resumeFrom) restoreTrainer(new Trainer(config, dataset), resumeFrom.checkpoint, resumeFrom.state, dataFingerprint(text), shown(dir));
  }
  if (removed.length) console.log(`cleaned up after a writer that was killed: ${removed.join(', ')}`);
  if (await repairGeneration(fs, id, stored)) console.log(`${runFiles.checkpoint} rebuilt from ${runFiles.resume} (step ${doneStep})`);
  for (const name of [runFiles.metrics, runFiles.diagnostics, runFiles.eval]) {
    const chunks = await chunkNames(fs, id, name);
    const at = (i: number) => runPath(id, chunks[i]);
    const repaired = await repairJsonlChunks(async (i) => (await readChunkText(fs, id, chunks[i]).catch(() => undefined)) ?? '', chunks.length, doneStep, (i) => join(dir, chunks[i]));
    for (const [i, text] of repaired.entries()) {
      if (text === null) await fs.delete(at(i));
      else if (text !== undefined) await writeAtomic(fs, at(i), text);
    }
  }
  // config.json is written only when it changes: by --steps, or when it was missing.
  if (edited === undefined) await writeConfig(fs, id, config);
  else if (flags.has('steps') && edited.steps !== config.steps) await writeAtomic(fs, runPath(id, runFiles.config), JSON.stringify({ ...edited, steps: config.steps }, null, 2) + '\n');
  console.log(doneStep > 0 ? `resuming ${config.cell} ${config.layers}x${config.hidden} in ${shown(dir)} from step ${doneStep} to ${config.steps}` : `restarting ${config.cell} ${config.layers}x${config.hidden} in ${shown(dir)} from step 0 (interrupted before its first checkpoint) to ${config.steps}`);
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
  // Records wait in one text per chunk and go out in one append per chunk, queued like any write:
  // an append per record fell behind a fast run (tens of thousands of steps a second), and the
  // queue of pending appends grew with the run. Whatever was posted before a checkpoint is
  // written before it (the queued append takes every line pending when it runs).
  const pending = new Map<string, string>();
  let appendQueued = false;
  const record = (chunk: string, r: unknown) => {
    pending.set(chunk, (pending.get(chunk) ?? '') + JSON.stringify(r) + '\n');
    if (appendQueued) return;
    appendQueued = true;
    write(async () => {
      appendQueued = false;
      for (const [name, lines] of [...pending]) {
        pending.delete(name);
        await appendLines(fs, id, name, lines);
      }
    });
  };
  const post = (m: FromWorker) => {
    switch (m.type) {
      case 'started':
        console.log(`${m.paramCount.toLocaleString('en-US')} parameters${m.vocab ? `, vocabulary of ${m.vocab.length}` : ''}${m.path ? `, ${m.path}` : ''}${m.workers ? ` x ${m.workers} worker${m.workers === 1 ? '' : 's'}` : ''}${m.workersNote ? ` (${m.workersNote})` : ''}`);
        break;
      case 'metrics':
        record(metricsChunk, m.record);
        if (!quiet && (m.record.step % 25 === 0 || m.record.step === 1 || m.record.valLoss !== undefined)) console.log(progressLine(m.record));
        break;
      case 'diagnostics':
        record(diagnosticsChunk, m.record);
        break;
      case 'seq2seqEval':
        record(evalChunk, m.record);
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
    await runSession({ runId: dir, config, dataText: text, resume: resumeFrom, keepResumable: true }, post, () => signal !== undefined || writeError !== undefined, { parallel: nodeParallelHost() });
    await writes;
  } finally {
    for (const off of handlers) off();
  }
  if (writeError !== undefined) {
    if (writeError instanceof EngineError && writeError.code === 'disk-full') {
      const kept = checkpointStep > 0 ? `it continues from its last checkpoint (step ${checkpointStep})` : 'it starts again (no checkpoint was written)';
      throw new EngineError('disk-full', writeError.message, `Free some space, then rnn-lab train --resume ${shown(dir)}: ${kept}`);
    }
    // The cause as a user reads it (permission denied, read-only, ...), naming the file.
    const e = fileProblem(writeError, (writeError as NodeJS.ErrnoException)?.path ?? dir, 'writing', 'bad-config');
    throw new EngineError(e.code, e.message, `${e.hint} The records written so far are kept.`);
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
  if (dtypeFlag !== 'f64' && dtypeFlag !== 'f32') throw new UsageError(`--dtype must be f64 or f32, got ${quote(flags.get('dtype')!)}`);
  const prefix = flags.get('prefix') ?? '';
  if (prefix && (!/^[\w.]*\.$/.test(prefix) || prefix.length > 200)) throw new UsageError(`--prefix must be a module path ending in a dot (e.g. rnn.), got ${quote(prefix)}`);
  const force = flags.get('force');
  if (force !== undefined && force !== 'yes') throw new UsageError(`--force takes the value yes (to replace an existing --out file), got ${quote(force)}`);
  // A run folder (or a link to one) gives its latest checkpoint generation; anything else must be a .safetensors file.
  const isRun = statOrUndefined(target)?.isDirectory() === true;
  const found = isRun ? await latestModel(runDir(target).fs, runDir(target).id) : undefined;
  if (found && 'problem' in found && existsSync(join(target, runFiles.config))) {
    throw new EngineError('bad-checkpoint', `${shown(target)} has no model: ${found.problem}`, found.problem === noModelYet ? 'rnn-lab train --resume it, or pick another run.' : 'Pick another run.');
  }
  const model = found && !('problem' in found) ? { bytes: found.bytes, where: join(dirname(target), found.where) } : undefined;
  const ckpt = model?.where ?? target;
  if (!model && (isRun || !existsSync(ckpt) || !/\.safetensors$/i.test(target))) {
    throw new EngineError('bad-checkpoint', `${shown(target)} is neither a run directory with checkpoint.safetensors nor a .safetensors file`, 'Pick a run directory written by rnn-lab train.');
  }
  const out = flags.get('out') ?? join(isRun ? target : '.', 'pytorch.safetensors');
  // Refused before the export is computed: an existing file (without --force), a link, a folder.
  const existing = lstatOrUndefined(out);
  if (existing?.isSymbolicLink()) throw new EngineError('bad-config', `${shown(out)} is a symbolic link`, 'Pick another --out; export never writes through a link.');
  if (existing && !existing.isFile()) throw new EngineError('bad-config', `${shown(out)} exists and is not a file`, 'Pick another --out.');
  if (existing && force !== 'yes') throw new EngineError('bad-config', `${shown(out)} already exists`, 'Pick another --out, or pass --force yes to replace it.');
  // Not even --force replaces a run's own files (the export would stand in for its checkpoint).
  if (existing && existsSync(join(dirname(out), 'config.json')) && /^(checkpoint|resume)\.safetensors$|^(config|summary|import)\.json$|\.jsonl$/.test(basename(out))) {
    throw new EngineError('bad-config', `${shown(out)} is a file of the run in ${shown(dirname(out))}`, 'Pick an --out outside the run\'s own files.');
  }
  const bytes = model?.bytes ?? readSafetensorsFile(ckpt, 'checkpoint');
  if (isSeq2SeqCheckpoint(bytes, shown(ckpt))) {
    for (const line of await exportSeq2Seq(bytes, shown(ckpt), out, dtypeFlag === 'f32' ? 'F32' : 'F64', force === 'yes' ? 'replace' : 'new')) console.log(line);
    return;
  }
  const result = exportStateDict(bytes, shown(ckpt), dtypeFlag === 'f32' ? 'F32' : 'F64', prefix);
  for (const w of result.warnings) console.error(`warning: ${clip(w, 300)}`);
  writeFileAtomic(out, result.bytes, force === 'yes' ? 'replace' : 'new');
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
  if (gruVariant !== undefined && gruVariant !== 'reset_after' && gruVariant !== 'reset_before') throw new UsageError(`--gru-variant must be reset_after or reset_before, got ${quote(gruVariant)}`);
  const activation = flags.get('activation');
  if (activation !== undefined && activation !== 'tanh' && activation !== 'relu') throw new UsageError(`--activation must be tanh or relu, got ${quote(activation)}`);
  const out = flags.get('out');
  if (out !== undefined) checkNewRunDir(out);
  const source = readSafetensorsFile(file, 'state_dict file');
  const vocabFile = flags.get('vocab');
  const decoded = decodeSafetensors(source, shown(file));
  if (isSeq2SeqStateDict(decoded)) return importSeq2SeqRun(file, decoded, flags, gruVariant as GruVariant | undefined, activation as 'tanh' | 'relu' | undefined);
  let vocab: string[] | undefined;
  let text: string | undefined;
  if (vocabFile !== undefined) {
    const content = readDataFile(vocabFile, DEFAULT_CONFIG.maxFileBytes, 'vocabulary file');
    vocab = vocabularyFrom(content, shown(vocabFile));
    if (!/\.json$/i.test(vocabFile)) text = content;
  }
  // A name derived from the file name is cut to the rule's length, not refused for it.
  const name = flags.get('name') ?? Array.from(`import-${basename(file).replace(/\.safetensors$/i, '')}`).slice(0, 100).join('');
  const run = importAsRun(source, shown(file), { gruVariant: gruVariant as GruVariant | undefined, rnnActivation: activation as 'tanh' | 'relu' | undefined, vocab, vocabSource: vocabFile, name, text });
  const dir = await writeRunDirWhole(out, run.config, importedRunFiles(run, file));
  for (const w of run.warnings) console.error(`warning: ${w}`);
  console.log(`imported ${file}: ${run.description}`);
  for (const s of run.diagnostics.spectrum) console.log(`  sigma_1 W_hh layer ${s.layer} ${s.block.padEnd(3)} ${s.sigma1.toFixed(4)} (1/gamma = ${s.reference})`);
  if (run.summary.valBpc !== undefined) console.log(`  on ${vocabFile}: validation bpc ${run.summary.valBpc.toFixed(3)}, training-chunk bpc ${run.summary.bpc!.toFixed(3)}`);
  console.log(`run saved in ${dir}`);
  return dir;
}

/** import of a seq2seq state_dict: a run that translate loads (src/engine/seq2seqImport.ts). */
async function importSeq2SeqRun(file: string, decoded: DecodedSafetensors, flags: Map<string, string>, gruVariant?: GruVariant, rnnActivation?: 'tanh' | 'relu'): Promise<string> {
  const vocabFile = flags.get('vocab');
  const vocabText = vocabFile === undefined ? undefined : readDataFile(vocabFile, DEFAULT_CONFIG.maxFileBytes, 'vocabulary file');
  const name = flags.get('name') ?? Array.from(`import-${basename(file).replace(/\.safetensors$/i, '')}`).slice(0, 100).join('');
  const run = importSeq2SeqAsRun(decoded, shown(file), { name, vocabText, vocabSource: vocabFile === undefined ? undefined : shown(vocabFile), gruVariant, rnnActivation });
  const dir = await writeRunDirWhole(flags.get('out'), run.config, importedRunFiles(run, file));
  for (const w of run.warnings) console.error(`warning: ${w}`);
  console.log(`imported ${file}: ${run.description}`);
  console.log(`  rnn-lab translate ${dir} "..." uses it`);
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
  checkRunDir(dir);
  const { fs, id } = runDir(dir);
  const model = await latestModel(fs, id);
  if ('problem' in model) {
    if (!existsSync(join(dir, runFiles.config))) throw new EngineError('bad-checkpoint', `${shown(dir)} has no ${runFiles.checkpoint}`, 'Train the run first, or pick another run directory.');
    throw new EngineError('bad-checkpoint', `${shown(dir)} has no model: ${model.problem}`, model.problem === noModelYet ? 'rnn-lab train --resume it, or pick another run.' : 'Pick another run.');
  }
  return loadCheckpoint(model.bytes, shown(join(dirname(dir), model.where)));
}

/** The longest --prime fed through the model. */
const MAX_PRIME_LENGTH = 10_000;

async function sample(dir: string, flags: Map<string, string>): Promise<string> {
  // The flags are checked before the checkpoint is read: a bad flag costs nothing.
  const get = (k: string) => flags.get(k);
  const length = get('length') === undefined ? 300 : wholeFlag('length', get('length')!, 0, MAX_SAMPLE_LENGTH);
  const topK = get('top-k') === undefined ? 0 : wholeFlag('top-k', get('top-k')!, 1, 1_000_000);
  const seed = get('seed') === undefined ? 7 : wholeFlag('seed', get('seed')!, 0, 4294967295);
  const temperature = get('temperature') === undefined ? 0.8 : numberFlag('temperature', get('temperature')!);
  if (!(temperature > 0) || !(temperature <= 1000)) throw new UsageError(`--temperature must be above 0 and at most 1000 (near 0 is greedy), got ${quote(get('temperature')!)}`);
  const prime = get('prime') ?? '';
  if (prime.length > MAX_PRIME_LENGTH) throw new UsageError(`--prime is ${prime.length.toLocaleString('en-US')} characters, over the ${MAX_PRIME_LENGTH.toLocaleString('en-US')} it may have`);
  const { net, vocab } = await loadRun(dir);
  if (!vocab) throw new EngineError('bad-config', `${shown(dir)} is a forecasting run`, 'Sampling text needs a character-LM run.');
  const symbols = new Set(vocab);
  if (prime !== '' && !Array.from(prime).some((c) => symbols.has(c))) {
    console.error(`warning: no character of --prime is in the model's vocabulary of ${vocab.length}; sampling without it`);
  }
  return sampleText(net, vocab, { length, temperature, topK, prime }, new Rng(seed));
}

function statOrUndefined(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

/** A run folder given on the command line: it must exist and be a folder. */
function checkRunDir(dir: string): void {
  const s = lstatOrUndefined(dir);
  if (!s) throw new EngineError('bad-config', `run folder ${shown(dir)} does not exist`, 'Pick a run directory written by rnn-lab train or rnn-lab import.');
  // A link to a folder is followed (reading through it loses nothing); a link to anything else is refused.
  const target = s.isSymbolicLink() ? statOrUndefined(dir) : s;
  if (!target?.isDirectory()) {
    throw new EngineError('bad-config', `${shown(dir)} is not a folder`, 'Pick a run directory written by rnn-lab train or rnn-lab import.');
  }
}

/** A number for the report: fixed or exponent notation, or what JSON left of a non-finite one. */
function fmt(x: unknown, digits: number, exp = false): string {
  if (typeof x !== 'number') return x === null ? 'not finite' : 'n/a';
  if (!Number.isFinite(x)) return String(x);
  return exp ? x.toExponential(digits) : x.toFixed(digits);
}

const isObj = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
/** A short label from a run file's field (a layer number, a gate name), never a long or nested value. */
const label = (v: unknown): string => (typeof v === 'number' || typeof v === 'string' ? clip(String(v), 20) : '?');

/**
 * report: reads what the run files hold, whatever they hold. A record without a field prints
 * "n/a", a loss JSON wrote as null (Infinity or NaN) prints "not finite"; only files that are not
 * JSON at all, or not records, are refused, naming the file and line.
 */
async function report(dir: string): Promise<string> {
  checkRunDir(dir);
  const run = runDir(dir);
  const metrics = (await readRecords<unknown>(run, runFiles.metrics)).filter(isObj) as Partial<Record<keyof MetricsRecord, unknown>>[];
  const diags = (await readRecords<unknown>(run, runFiles.diagnostics)).filter(isObj);
  if (metrics.length === 0 && diags.length === 0) throw new EngineError('bad-config', `${shown(dir)} has no metrics.jsonl or diagnostics.jsonl records`, 'Pick a run directory written by rnn-lab train or rnn-lab import.');
  if (!existsSync(join(dir, runFiles.config))) throw new EngineError('bad-config', `${shown(dir)} has no config.json`, 'Pick a run directory written by rnn-lab train or rnn-lab import.');
  const hint = 'The run\'s files were edited or damaged; restore config.json or pick another run.';
  const { config, warnings } = validateConfig(readJsonFile(join(dir, runFiles.config), 'run file', hint), shown(join(dir, runFiles.config)));
  for (const w of warnings) console.error(`warning: ${w}`);
  const lines: string[] = [];
  if (isSeq2SeqTask(config.task)) lines.push(...(await seq2seqReportLines(run, config)));
  lines.push(`run ${shown(dir)}: ${config.cell} ${config.layers}x${config.hidden}, seq ${config.seqLength}, batch ${config.batch}, ${config.optimizer} lr ${config.lr}, clip ${config.clipMode} ${config.clip}`);
  const optionalJson = (name: string): Record<string, unknown> | undefined => {
    const path = join(dir, name);
    if (!existsSync(path)) return undefined;
    const v = readJsonFile(path, 'run file', hint);
    return isObj(v) ? v : undefined;
  };
  if (metrics.length === 0) {
    const imported = optionalJson(runFiles.import);
    lines.push(imported ? `imported, not trained: ${typeof imported.description === 'string' ? clip(imported.description, 200) : 'n/a'}` : 'no training steps yet');
    const measured = optionalJson(runFiles.summary);
    if (measured && measured.valBpc !== undefined) lines.push(`measured at import: validation bpc ${fmt(measured.valBpc, 3)}, training-chunk bpc ${fmt(measured.bpc, 3)}`);
  } else {
    const last = metrics[metrics.length - 1];
    lines.push(`steps ${fmt(last.step, 0)}, final loss ${fmt(last.loss, 4)}${last.bpc !== undefined ? ` (bpc ${fmt(last.bpc, 3)})` : ''}`);
    const val = [...metrics].reverse().find((m) => m.valLoss !== undefined);
    if (val) lines.push(`validation at step ${fmt(val.step, 0)}: loss ${fmt(val.valLoss, 4)}${val.valBpc !== undefined ? ` (bpc ${fmt(val.valBpc, 3)})` : ''}`);
    const norms = metrics.map((m) => m.gradNorm).filter((x): x is number => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
    const clipped = typeof last.clipFraction === 'number' && Number.isFinite(last.clipFraction) ? `${(100 * last.clipFraction).toFixed(1)}%` : 'n/a';
    lines.push(
      norms.length
        ? `gradient norm before clipping: median ${norms[Math.floor(norms.length / 2)].toFixed(3)}, max ${norms[norms.length - 1].toFixed(3)}${norms.length < metrics.length ? ` (${metrics.length - norms.length} steps without a finite norm)` : ''}; clipping fired on ${clipped} of steps`
        : `gradient norm before clipping: no finite value in ${metrics.length} steps; clipping fired on ${clipped} of steps`,
    );
  }
  const d = diags[diags.length - 1];
  if (d) {
    const first = diags[0];
    lines.push(`diagnostics at step ${fmt(d.step, 0)} (first at step ${fmt(first.step, 0)}):`);
    for (const s of list(d.spectrum).filter(isObj)) {
      const s0 = list(first.spectrum).filter(isObj).find((x) => x.layer === s.layer && x.block === s.block);
      lines.push(`  sigma_1 W_hh layer ${label(s.layer)} ${label(s.block).padEnd(3)} ${fmt(s.sigma1, 3)} (step ${fmt(first.step, 0)}: ${fmt(s0?.sigma1, 3)}; 1/gamma = ${label(s.reference)})`);
    }
    for (const s of list(d.saturation).filter(isObj)) {
      lines.push(`  saturation layer ${label(s.layer)} gate ${label(s.gate)}: left ${fmt(typeof s.left === 'number' ? 100 * s.left : s.left, 1)}%, right ${fmt(typeof s.right === 'number' ? 100 * s.right : s.right, 1)}%`);
    }
    for (const f of list(d.flow).filter(isObj)) {
      const pick = (a: unknown[]) => [0, 1, 5, 10, 20, a.length - 1].filter((k, i, arr) => k >= 0 && k < a.length && arr.indexOf(k) === i).map((k) => `k=${k}: ${fmt(a[k], 2, true)}`).join(', ');
      lines.push(`  flow layer ${label(f.layer)} ||dL_T/dh_(T-k)||  ${pick(list(f.h))}`);
      if (f.c) lines.push(`  flow layer ${label(f.layer)} ||dL_T/dc_(T-k)||  ${pick(list(f.c))}`);
    }
  }
  return lines.join('\n');
}

function oracle(files: string[]): number {
  if (files.length === 0) throw new UsageError('oracle needs at least one fixture file');
  // Every fixture is read and checked against the format before any is run: a bad one is refused
  // in one line before results are printed.
  const fixtures = files.map((file) => {
    const raw = readJsonFile(file, 'fixture', 'Pass a fixture JSON file in the oracle format.', 'bad-oracle', MAX_FIXTURE_BYTES);
    // The seq2seq format names itself and is checked field by field by its own checker.
    return isObj(raw) && 'format' in raw ? raw : validateFixture(raw, shown(file));
  });
  let worst = 0;
  let worst32 = 0;
  const simd = kernelArena() !== null;
  for (const [i, fixture] of fixtures.entries()) {
    let r;
    try {
      r = checkOracleFile(fixture);
    } catch (e) {
      if (e instanceof EngineError) throw new EngineError(e.code, `${shown(files[i])}: ${e.message}`, e.hint);
      throw e;
    }
    worst = Math.max(worst, r.maxError);
    const worstQ = r.quantities.reduce((a, b) => (b.error > a.error ? b : a));
    console.log(`${clip(r.fixture, 80)}: max error ${r.maxError.toExponential(2)} (${worstQ.name}) over ${r.quantities.length} quantities ${r.maxError <= 1e-9 ? 'ok' : 'FAIL'}`);
    for (const q of r.quantities) console.log(`  ${q.name.padEnd(40)} ${q.error.toExponential(2)}${q.absError === undefined ? '' : `  (abs ${q.absError.toExponential(2)})`}`);
    if (simd) {
      const r32 = checkOracleFile(fixture, 'float32');
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
  export: ['out', 'dtype', 'prefix', 'force'],
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
  // Own keys only: "toString" or "constructor" are not commands.
  if (!Object.hasOwn(HELP, cmd)) throw new UsageError(`unknown command ${quote(cmd, 40)} (commands: ${Object.keys(HELP).join(', ')})`);
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(HELP[cmd]);
    return 0;
  }
  const { positional, flags } = cmd === 'bench' ? { positional: [], flags: new Map<string, string>() } : parseFlags(rest);
  const allowed = Object.hasOwn(OPTIONS, cmd) ? OPTIONS[cmd] : undefined;
  const unknown = allowed ? [...flags.keys()].find((k) => !allowed.includes(k)) : undefined;
  if (unknown !== undefined) throw new UsageError(`${cmd} has no option --${clip(unknown, 40)} (see rnn-lab ${cmd} --help)`);
  for (const pathFlag of ['out', 'resume', 'config', 'vocab', 'data']) {
    if (flags.get(pathFlag) === '') throw new UsageError(`--${pathFlag} needs a path, got an empty one`);
  }
  for (const p of positional) if (p === '') throw new UsageError(`${cmd} got an empty path argument`);
  const one = (what: string) => {
    if (positional.length !== 1) throw new UsageError(`${cmd} needs exactly one ${what}${positional.length ? `, got ${positional.length}: ${clip(positional.join(' '), 80)}` : ''} (see rnn-lab ${cmd} --help)`);
    return positional[0];
  };
  switch (cmd) {
    case 'train': {
      const sweep = flags.has('resume') || flags.has('config') ? undefined : sweepConfigArg(positional);
      if (flags.has('resume')) await resume(flags.get('resume')!, positional, flags);
      else if (sweep) await trainSweep(positional[0], sweep, flags, trainInDir);
      else if (isSeq2SeqTask(flags.get('task'))) await trainSeq2Seq(positional, flags, { configFromFlags, trainInDir });
      else await train(one('data FILE'), flags);
      return Number(process.exitCode ?? 0);
    }
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
        // Internal: one engine of the bench in its own process (see bench/child.ts), started with an IPC channel.
        if (typeof process.send !== 'function') throw new UsageError('bench --child is internal: rnn-lab bench starts it (run rnn-lab bench)');
        await benchChild();
        return 0;
      }
      const json = rest.includes('--json');
      const quick = rest.includes('--quick');
      const seq2seqOnly = rest.includes('--seq2seq');
      const at = rest.indexOf('--config');
      const only = at >= 0 ? benchConfigNames(rest[at + 1]) : undefined;
      const unknown = rest.filter((a, i) => a !== '--json' && a !== '--quick' && a !== '--seq2seq' && (at < 0 || (i !== at && i !== at + 1)));
      if (unknown.length) throw new UsageError(`bench takes only --quick, --config and --json, or --seq2seq, got ${clip(unknown.join(' '), 80)}`);
      if (only && seq2seqOnly) throw new UsageError('bench --config picks among configs a-d and rnn; --seq2seq runs the seq2seq config alone: give one of them');
      const log = json ? () => {} : console.log;
      const result = seq2seqOnly ? {} : await runBench(join(resolve(__dirname, '..'), 'data', 'austen_pride_prejudice.txt'), { quick, log, only });
      // The seq2seq config trains to a target, minutes per engine: full runs and --seq2seq only.
      const s2s = (quick && !seq2seqOnly) || only ? undefined : runSeq2SeqBench(600, log);
      if (json) console.log(JSON.stringify(s2s ? { ...result, seq2seq: s2s } : result));
      return 0;
    }
  }
  return 2;
}

/** The configs named by bench --config (a comma-separated list), in the bench's order. */
function benchConfigNames(list: string | undefined): string[] {
  const known = BENCH_CONFIGS.map((c) => c.name);
  const names = (list ?? '').split(',').map((n) => n.trim()).filter(Boolean);
  if (!names.length) throw new UsageError(`bench --config needs config names: ${known.join(', ')} (e.g. --config b,d)`);
  const bad = names.filter((n) => !known.includes(n));
  if (bad.length) throw new UsageError(`bench --config: no config ${clip(bad.join(', '), 40)}; the configs are ${known.join(', ')}`);
  return names;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(`rnn-lab: ${failureLine(err)}`);
    if (process.env.RNN_LAB_DEBUG && err?.stack) console.error(err.stack);
    process.exit(2);
  },
);

/**
 * The one line any failure prints. User errors (EngineError, UsageError, a file-system refusal)
 * say what, where and what to do; an allocation the machine cannot make says so; anything else
 * is a bug in rnn-lab and says that, without a stack (RNN_LAB_DEBUG=1 prints it).
 */
function failureLine(err: unknown): string {
  if (err instanceof EngineError) return err.line;
  if (err instanceof UsageError) return fitLine(err.message, '');
  const e = err as NodeJS.ErrnoException & { dest?: string };
  if (typeof e?.code === 'string' && /^E[A-Z]+$/.test(e.code)) {
    const doing = /write|append|rename|mkdir|link|copy|open/.test(e.syscall ?? '') ? (e.syscall === 'open' ? 'opening' : 'writing') : 'reading';
    return fileProblem(e, e.path ?? e.dest ?? 'a file', doing).line;
  }
  const message = String(e?.message ?? err).split(/[\r\n]/)[0];
  if (err instanceof RangeError && /allocation failed|Invalid (typed )?array length|Array buffer/i.test(message)) {
    return fitLine(`out of memory: ${clip(message, 80)}`, '. Use a smaller model (hidden, layers, seqLength, batch) or a smaller file.');
  }
  return fitLine(`internal error: ${clip(message, 120)}`, '. This is a bug in rnn-lab; please report it with the command you ran (RNN_LAB_DEBUG=1 prints the stack).');
}
