#!/usr/bin/env node
/**
 * `rnn-lab`: train, sample, report and check against the oracles without VS Code.
 * Usage errors and errors a user can cause print one line and exit 2.
 */
import { readFileSync, existsSync, rmSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { isSeq2SeqTask, type DiagnosticsRecord, type FromWorker, type GruVariant, type MetricsRecord, type RunConfig, type RunSummary } from '../protocol';
import { isSeq2SeqCheckpoint } from '../engine/seq2seqCheckpoint';
import { validateConfig, DEFAULT_CONFIG } from '../engine/config';
import { checkFileSize, decodeText } from '../engine/data';
import { EngineError } from '../engine/errors';
import { checkOracleFile } from '../engine/oracle';
import { loadCheckpoint, type LoadedModel } from '../engine/checkpoint';
import { Rng } from '../engine/random';
import { sampleText } from '../engine/sample';
import { datasetFor, runSession, type SessionStart } from '../engine/session';
import { dataFingerprint, restoreTrainer, RESUME_FILE } from '../engine/resume';
import { decodeSafetensors } from '../engine/safetensors';
import { exportStateDict, importAsRun, vocabularyFrom } from '../engine/interop';
import { Trainer } from '../engine/trainer';
import { runBench } from './bench';
import { evalLine, exportSeq2Seq, isSeq2SeqRun, resumeSeq2Seq, SEQ2SEQ_FLAG_KEYS, SEQ2SEQ_HELP, seq2seqReportLines, trainSeq2Seq, translate } from './seq2seq';
import { benchChild } from './bench/child';
import { runSeq2SeqBench } from './bench/seq2seq';
import { appendJsonl, createRunDir, jsonlChunkPaths, lastJsonlChunk, readJsonl, readJsonlFile, writeAtomic, writeRunDirWhole } from './runDir';

class UsageError extends Error {}

const HELP: Record<string, string> = {
  train: `rnn-lab train FILE [--config F.rnn.json] [--cell lstm|gru|rnn] [--layers N] [--hidden N] [--seq N]
              [--batch N] [--steps N] [--lr X] [--optim adam|sgd|rmsprop|adagrad] [--clip X]
              [--clip-mode norm|value|none] [--init orthogonal|identity|gaussian] [--scale X]
              [--task charlm|forecast] [--columns a,b] [--seed N] [--diag-every N] [--out RUN_DIR]
       rnn-lab train --resume RUN_DIR [--steps N] [FILE]
  Trains on a text file (character LM) or a CSV column (forecasting); writes a run directory.
  --resume continues a run from its last checkpoint (and resume.safetensors: optimizer, RNG,
  data position, carried state) exactly as if it had not stopped; --steps raises its total.
${SEQ2SEQ_HELP.train}`,
  translate: SEQ2SEQ_HELP.translate,
  sample: `rnn-lab sample RUN_DIR [--temperature X] [--length N] [--prime TEXT] [--top-k N] [--seed N]
  Prints text sampled from a trained character model.`,
  report: `rnn-lab report RUN_DIR
  Prints a summary: final loss, sigma_1 of W_hh per layer and gate, clipping, saturation, gradient flow.`,
  oracle: `rnn-lab oracle FILE...
  Checks the engine against oracle fixtures (PyTorch float64): the language-model format and the
  seq2seq one ("format": "rnn-lab-seq2seq-oracle/1"). Prints each quantity's error
  max|ours - ref| / max|ref|; exits 1 if any exceeds 1e-9.`,
  export: `rnn-lab export RUN_DIR [--out FILE.safetensors] [--dtype f64|f32] [--prefix rnn.]
  Writes the run's weights as a PyTorch state_dict in safetensors (default RUN_DIR/pytorch.safetensors):
  weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0, ... (+ embedding.weight, head.weight, head.bias);
  f64 is exact (load_state_dict converts to a float32 module's dtype), f32 is half the size.
  --prefix puts the recurrent tensors under a submodule name (rnn.weight_ih_l0). Never overwrites.`,
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
  'checkpoint-every': ['checkpointEvery', 'num'], name: ['name', 'str'],
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
  let dir: string;
  try {
    dir = createRunDir(flags.get('out'), config);
  } catch (e) {
    throw new EngineError('bad-config', `cannot create the run directory: ${(e as Error).message}`, 'Pick another --out (a new folder).');
  }
  console.log(`training ${config.cell} ${config.layers}x${config.hidden} on ${file} -> ${dir}`);
  await trainInDir(dir, config, text, quiet);
  return dir;
}

/**
 * train --resume: the config and weights from the run's checkpoint, everything else from its
 * resume.safetensors; records after the checkpoint's step (a run killed between checkpoints) are
 * dropped so that metrics.jsonl reads as one uninterrupted run.
 */
async function resume(dir: string, positional: string[], flags: Map<string, string>, quiet = false): Promise<string> {
  const other = [...flags.keys()].filter((k) => k !== 'resume' && k !== 'steps');
  if (other.length) throw new UsageError(`--resume continues a run as it was configured; only --steps may change, not --${other[0]}`);
  if (positional.length > 1) throw new UsageError('train --resume takes at most one data FILE (when the data file moved)');
  const ckptPath = join(dir, 'checkpoint.safetensors');
  const statePath = join(dir, RESUME_FILE);
  if (!existsSync(ckptPath)) throw new EngineError('bad-checkpoint', `${dir} has no checkpoint.safetensors`, 'Pick a run directory written by rnn-lab train.');
  if (isSeq2SeqRun(dir)) return resumeSeq2Seq(dir, positional, flags, { configFromFlags, trainInDir, truncateAfter: truncateRecordsAfter });
  if (!existsSync(statePath)) {
    throw new EngineError('bad-checkpoint', `${dir} has no ${RESUME_FILE} (the optimizer and RNG state an exact resume needs)`, 'Runs trained by rnn-lab train keep it; start a new run from the checkpoint otherwise.');
  }
  const checkpoint = new Uint8Array(readFileSync(ckptPath));
  const state = new Uint8Array(readFileSync(statePath));
  const loaded = loadCheckpoint(checkpoint, ckptPath);
  const doneStep = Number(decodeSafetensors(checkpoint, ckptPath).metadata.step);
  let config = loaded.config;
  if (flags.has('steps')) {
    const steps = Number(flags.get('steps'));
    if (!Number.isInteger(steps) || steps < 1) throw new UsageError(`--steps needs a whole number, got "${flags.get('steps')}"`);
    config = validateConfig({ ...config, steps }, 'options').config;
  }
  if (config.steps <= doneStep) {
    throw new EngineError('bad-config', `${dir} is already at step ${doneStep} of ${config.steps}`, `Pass --steps N with N above ${doneStep} to train further.`);
  }
  const file = positional[0] ?? config.data;
  if (!existsSync(file)) throw new EngineError('bad-config', `the run's data file ${file} does not exist`, 'Pass the data file after RUN_DIR: rnn-lab train --resume RUN_DIR FILE.');
  const text = decodeText(readFileSync(file), file, config.maxFileBytes);
  // Every check of the resume happens here, before a file of the run is touched.
  restoreTrainer(new Trainer(config, datasetFor(config, text)), checkpoint, state, dataFingerprint(text), dir);
  truncateRecordsAfter(dir, doneStep);
  writeAtomic(join(dir, 'config.json'), JSON.stringify(config, null, 2) + '\n');
  console.log(`resuming ${config.cell} ${config.layers}x${config.hidden} in ${dir} from step ${doneStep} to ${config.steps}`);
  await trainInDir(dir, config, text, quiet, { checkpoint, state, where: dir });
  return dir;
}

/** Drops the records of steps after `doneStep` from the run's JSONL files (a run killed between checkpoints). */
function truncateRecordsAfter(dir: string, doneStep: number): void {
  for (const name of ['metrics.jsonl', 'diagnostics.jsonl', 'eval.jsonl']) {
    // Newest chunk first (a run the extension wrote may have several): chunks wholly past the
    // checkpoint go, the one holding it is cut. A crash at any point leaves a prefix of the
    // records, and resuming again finishes the job.
    const chunks = jsonlChunkPaths(join(dir, name));
    for (let i = chunks.length - 1; i >= 0; i--) {
      const records = readJsonlFile<{ step: number }>(chunks[i]);
      const kept = records.filter((r) => r.step <= doneStep);
      if (kept.length === records.length) break;
      if (kept.length === 0 && i > 0) {
        rmSync(chunks[i]);
        continue;
      }
      writeAtomic(chunks[i], kept.map((r) => JSON.stringify(r) + '\n').join(''));
      break;
    }
  }
}

async function trainInDir(dir: string, config: RunConfig, text: string, quiet: boolean, resumeFrom?: SessionStart['resume']): Promise<void> {
  let failed: string | undefined;
  const metricsFile = lastJsonlChunk(dir, 'metrics.jsonl');
  const diagnosticsFile = lastJsonlChunk(dir, 'diagnostics.jsonl');
  const post = (m: FromWorker) => {
    switch (m.type) {
      case 'started':
        console.log(`${m.paramCount.toLocaleString('en-US')} parameters${m.vocab ? `, vocabulary of ${m.vocab.length}` : ''}`);
        break;
      case 'metrics':
        appendJsonl(dir, metricsFile, m.record);
        if (!quiet && (m.record.step % 25 === 0 || m.record.step === 1 || m.record.valLoss !== undefined)) console.log(progressLine(m.record));
        break;
      case 'diagnostics':
        appendJsonl(dir, diagnosticsFile, m.record);
        break;
      case 'seq2seqEval':
        appendJsonl(dir, 'eval.jsonl', m.record);
        if (!quiet) console.log(evalLine(m.record));
        break;
      case 'checkpoint':
        writeAtomic(join(dir, 'checkpoint.safetensors'), m.bytes);
        break;
      case 'log':
        console.log(m.message);
        break;
      case 'done':
        writeAtomic(join(dir, 'summary.json'), JSON.stringify(m.summary, null, 2) + '\n');
        if (m.summary.status === 'failed' || m.summary.status === 'diverged') failed = m.summary.message;
        // A diverged run's message names the step that failed; summary.step is the last good one.
        if (m.summary.status === 'diverged') console.log(`${m.summary.message} Metrics and the checkpoint of step ${m.summary.step} are saved.`);
        else console.log(`${m.summary.status} at step ${m.summary.step}${m.summary.message ? `: ${m.summary.message}` : ''}`);
        break;
    }
  };
  let stop = false;
  process.once('SIGINT', () => (stop = true));
  // resume.safetensors is written just before each checkpoint; a crash between the two leaves
  // files of different steps, which resume refuses rather than continuing wrongly.
  const saveState = (_step: number, bytes: Uint8Array) => writeAtomic(join(dir, RESUME_FILE), bytes);
  await runSession({ runId: dir, config, dataText: text, resume: resumeFrom }, post, () => stop, saveState);
  if (failed) process.exitCode = 2;
  console.log(`run saved in ${dir}`);
}

/** export: a run's weights as a PyTorch state_dict file. */
function exportRun(target: string, flags: Map<string, string>): void {
  const dtypeFlag = (flags.get('dtype') ?? 'f64').toLowerCase();
  if (dtypeFlag !== 'f64' && dtypeFlag !== 'f32') throw new UsageError(`--dtype must be f64 or f32, got "${flags.get('dtype')}"`);
  const prefix = flags.get('prefix') ?? '';
  if (prefix && !/^[\w.]*\.$/.test(prefix)) throw new UsageError(`--prefix must be a module path ending in a dot (e.g. rnn.), got "${prefix}"`);
  const ckpt = existsSync(join(target, 'checkpoint.safetensors')) ? join(target, 'checkpoint.safetensors') : target;
  if (!existsSync(ckpt) || (ckpt === target && !/\.safetensors$/i.test(target))) {
    throw new EngineError('bad-checkpoint', `${target} is neither a run directory with checkpoint.safetensors nor a .safetensors file`, 'Pick a run directory written by rnn-lab train.');
  }
  const out = flags.get('out') ?? join(ckpt === target ? '.' : target, 'pytorch.safetensors');
  if (existsSync(out)) throw new EngineError('bad-config', `${out} already exists`, 'Pick another --out; export never overwrites a file.');
  if (isSeq2SeqCheckpoint(new Uint8Array(readFileSync(ckpt)), ckpt)) {
    for (const line of exportSeq2Seq(ckpt, out, dtypeFlag === 'f32' ? 'F32' : 'F64')) console.log(line);
    return;
  }
  const result = exportStateDict(new Uint8Array(readFileSync(ckpt)), ckpt, dtypeFlag === 'f32' ? 'F32' : 'F64', prefix);
  for (const w of result.warnings) console.error(`warning: ${w}`);
  writeAtomic(out, result.bytes);
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
function importRun(file: string, flags: Map<string, string>): string {
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
  const files: Record<string, string | Uint8Array> = {
    'config.json': JSON.stringify(run.config, null, 2) + '\n',
    'checkpoint.safetensors': run.checkpoint,
    'diagnostics.jsonl': JSON.stringify(run.diagnostics) + '\n',
    'summary.json': JSON.stringify(run.summary, null, 2) + '\n',
    'import.json': JSON.stringify({ source: file, description: run.description, warnings: run.warnings }, null, 2) + '\n',
  };
  const dir = writeRunDirWhole(flags.get('out'), run.config, files);
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

/** Loads a run's final checkpoint into a Network. */
export function loadRun(dir: string): LoadedModel {
  const ckpt = join(dir, 'checkpoint.safetensors');
  if (!existsSync(ckpt)) throw new EngineError('bad-checkpoint', `${dir} has no checkpoint.safetensors`, 'Train the run first, or pick another run directory.');
  return loadCheckpoint(readFileSync(ckpt), ckpt);
}

function sample(dir: string, flags: Map<string, string>): string {
  const { net, vocab } = loadRun(dir);
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

function report(dir: string): string {
  const metrics = readJsonl<MetricsRecord>(join(dir, 'metrics.jsonl'));
  const diags = readJsonl<DiagnosticsRecord>(join(dir, 'diagnostics.jsonl'));
  if (metrics.length === 0 && diags.length === 0) throw new EngineError('bad-config', `${dir} has no metrics.jsonl or diagnostics.jsonl records`, 'Pick a run directory written by rnn-lab train or rnn-lab import.');
  if (!existsSync(join(dir, 'config.json'))) throw new EngineError('bad-config', `${dir} has no config.json`, 'Pick a run directory written by rnn-lab train or rnn-lab import.');
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as RunConfig;
  const lines: string[] = [];
  if (isSeq2SeqTask(config.task)) lines.push(...seq2seqReportLines(dir, config));
  lines.push(`run ${dir}: ${config.cell} ${config.layers}x${config.hidden}, seq ${config.seqLength}, batch ${config.batch}, ${config.optimizer} lr ${config.lr}, clip ${config.clipMode} ${config.clip}`);
  if (metrics.length === 0) {
    const importJson = join(dir, 'import.json');
    lines.push(existsSync(importJson) ? `imported, not trained: ${(JSON.parse(readFileSync(importJson, 'utf8')) as { description: string }).description}` : 'no training steps yet');
    const summaryJson = join(dir, 'summary.json');
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
  }
  console.log(`worst error ${worst.toExponential(2)} (float64 engine, threshold 1e-9)`);
  return worst <= 1e-9 ? 0 : 1;
}

async function demo(): Promise<void> {
  const here = resolve(__dirname, '..');
  const data = join(here, 'data', 'austen_pride_prejudice.txt');
  const flags = new Map<string, string>([
    ['cell', 'lstm'], ['hidden', '96'], ['seq', '40'], ['batch', '16'], ['steps', '600'], ['lr', '0.01'],
    ['eval-every', '100'], ['name', 'demo-lstm-austen'],
  ]);
  const dir = await train(data, flags);
  console.log('\nsamples (temperature 0.7, primed with "Elizabeth"):\n');
  for (const seed of [1, 2]) {
    console.log('---');
    console.log('Elizabeth' + sample(dir, new Map([['temperature', '0.7'], ['length', '240'], ['prime', 'Elizabeth'], ['seed', String(seed)]])));
  }
  console.log('---\n');
  console.log(report(dir));
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
  import: ['out', 'vocab', 'gru-variant', 'activation', 'name'],
};

async function main(argv: string[]): Promise<number> {
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
      console.log(sample(one('RUN_DIR'), flags));
      return 0;
    case 'report':
      console.log(report(one('RUN_DIR')));
      return 0;
    case 'oracle':
      return oracle(positional);
    case 'translate':
      if (positional.length !== 2) throw new UsageError('translate needs RUN_DIR and "TEXT" (see rnn-lab translate --help)');
      console.log(translate(positional[0], positional[1], flags));
      return 0;
    case 'demo':
      if (positional.length) throw new UsageError('demo takes no arguments');
      await demo();
      return 0;
    case 'export':
      exportRun(one('RUN_DIR (or checkpoint .safetensors file)'), flags);
      return 0;
    case 'import':
      importRun(one('FILE.safetensors'), flags);
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
