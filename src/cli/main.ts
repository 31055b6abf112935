#!/usr/bin/env node
/**
 * `rnn-lab`: train, sample, report and check against the oracles without VS Code.
 * Usage errors and errors a user can cause print one line and exit 2.
 */
import { readFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { DiagnosticsRecord, FromWorker, MetricsRecord, RunConfig } from '../protocol';
import { validateConfig, DEFAULT_CONFIG } from '../engine/config';
import { decodeText } from '../engine/data';
import { EngineError } from '../engine/errors';
import { checkFixture, type OracleFixture } from '../engine/oracle';
import { loadCheckpoint, type LoadedModel } from '../engine/checkpoint';
import { Rng } from '../engine/random';
import { sampleText } from '../engine/sample';
import { datasetFor, runSession } from '../engine/session';
import { runBench } from './bench';
import { benchChild } from './bench/child';
import { appendJsonl, createRunDir, readJsonl, writeAtomic } from './runDir';

class UsageError extends Error {}

const HELP: Record<string, string> = {
  train: `rnn-lab train FILE [--config F.rnn.json] [--cell lstm|gru|rnn] [--layers N] [--hidden N] [--seq N]
              [--batch N] [--steps N] [--lr X] [--optim adam|sgd|rmsprop|adagrad] [--clip X]
              [--clip-mode norm|value|none] [--init orthogonal|identity|gaussian] [--scale X]
              [--task charlm|forecast] [--columns a,b] [--seed N] [--diag-every N] [--out RUN_DIR]
  Trains on a text file (character LM) or a CSV column (forecasting); writes a run directory.`,
  sample: `rnn-lab sample RUN_DIR [--temperature X] [--length N] [--prime TEXT] [--top-k N] [--seed N]
  Prints text sampled from a trained character model.`,
  report: `rnn-lab report RUN_DIR
  Prints a summary: final loss, sigma_1 of W_hh per layer and gate, clipping, saturation, gradient flow.`,
  oracle: `rnn-lab oracle FILE...
  Checks the engine against oracle fixtures (PyTorch float64); exits 1 if any error exceeds 1e-9.`,
  bench: `rnn-lab bench [--quick] [--json]
  Measures training throughput beside tfjs (cpu, wasm) on configs a-d and a vanilla RNN: chars/s,
  ratios, model GFLOP/s vs a tiled-matmul ceiling, peak RSS. --quick: under a minute on an idle machine.`,
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
  const text = decodeText(readFileSync(file), file, config.maxFileBytes);
  datasetFor(config, text); // bad data is refused before a run directory exists
  const dir = createRunDir(flags.get('out'), config);
  console.log(`training ${config.cell} ${config.layers}x${config.hidden} on ${file} -> ${dir}`);
  let failed: string | undefined;
  const post = (m: FromWorker) => {
    switch (m.type) {
      case 'started':
        console.log(`${m.paramCount.toLocaleString('en-US')} parameters${m.vocab ? `, vocabulary of ${m.vocab.length}` : ''}`);
        break;
      case 'metrics':
        appendJsonl(dir, 'metrics.jsonl', m.record);
        if (!quiet && (m.record.step % 25 === 0 || m.record.step === 1 || m.record.valLoss !== undefined)) console.log(progressLine(m.record));
        break;
      case 'diagnostics':
        appendJsonl(dir, 'diagnostics.jsonl', m.record);
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
        console.log(`${m.summary.status} at step ${m.summary.step}${m.summary.message ? `: ${m.summary.message}` : ''}`);
        break;
    }
  };
  let stop = false;
  process.once('SIGINT', () => (stop = true));
  await runSession({ runId: dir, config, dataText: text }, post, () => stop);
  if (failed) process.exitCode = 2;
  console.log(`run saved in ${dir}`);
  return dir;
}

function progressLine(r: MetricsRecord): string {
  const parts = [`step ${String(r.step).padStart(5)}`, `loss ${r.loss.toFixed(4)}`];
  if (r.bpc !== undefined) parts.push(`bpc ${r.bpc.toFixed(3)}`);
  if (r.valLoss !== undefined) parts.push(`val ${r.valBpc !== undefined ? `bpc ${r.valBpc.toFixed(3)}` : `loss ${r.valLoss.toFixed(4)}`}`);
  parts.push(`|g| ${r.gradNorm.toFixed(2)}${r.clipped ? ` -> ${r.gradNormClipped.toFixed(2)}` : ''}`);
  parts.push(`${r.charsPerSec.toLocaleString('en-US')} chars/s`);
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
  if (metrics.length === 0) throw new EngineError('bad-config', `${dir} has no metrics.jsonl records`, 'Pick a run directory written by rnn-lab train.');
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as RunConfig;
  const last = metrics[metrics.length - 1];
  const lines: string[] = [];
  lines.push(`run ${dir}: ${config.cell} ${config.layers}x${config.hidden}, seq ${config.seqLength}, batch ${config.batch}, ${config.optimizer} lr ${config.lr}, clip ${config.clipMode} ${config.clip}`);
  lines.push(`steps ${last.step}, final loss ${last.loss.toFixed(4)}${last.bpc !== undefined ? ` (bpc ${last.bpc.toFixed(3)})` : ''}`);
  const val = [...metrics].reverse().find((m) => m.valLoss !== undefined);
  if (val) lines.push(`validation at step ${val.step}: loss ${val.valLoss!.toFixed(4)}${val.valBpc !== undefined ? ` (bpc ${val.valBpc.toFixed(3)})` : ''}`);
  const norms = metrics.map((m) => m.gradNorm).sort((a, b) => a - b);
  lines.push(`gradient norm before clipping: median ${norms[Math.floor(norms.length / 2)].toFixed(3)}, max ${norms[norms.length - 1].toFixed(3)}; clipping fired on ${(100 * last.clipFraction).toFixed(1)}% of steps`);
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
    let fixture: OracleFixture;
    try {
      fixture = JSON.parse(readFileSync(file, 'utf8'));
    } catch (e) {
      throw new EngineError('bad-oracle', `${file}: ${(e as Error).message}`, 'Pass a fixture JSON file.');
    }
    const r = checkFixture(fixture);
    worst = Math.max(worst, r.maxError);
    console.log(`${r.fixture}: max error ${r.maxError.toExponential(2)} over ${r.quantities.length} quantities ${r.maxError <= 1e-9 ? 'ok' : 'FAIL'}`);
    for (const q of r.quantities) console.log(`  ${q.name.padEnd(40)} ${q.error.toExponential(2)}`);
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

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '--help' || cmd === 'help') {
    process.stdout.write(usage());
    return cmd ? 0 : 2;
  }
  if (!(cmd in HELP)) throw new UsageError(`unknown command "${cmd}" (commands: ${Object.keys(HELP).join(', ')})`);
  const { positional, flags } = cmd === 'bench' ? { positional: [], flags: new Map<string, string>(rest.includes('--help') ? [['help', '1']] : []) } : parseFlags(rest);
  if (flags.has('help')) {
    console.log(HELP[cmd]);
    return 0;
  }
  switch (cmd) {
    case 'train':
      if (positional.length !== 1) throw new UsageError('train needs exactly one data FILE');
      await train(positional[0], flags);
      return Number(process.exitCode ?? 0);
    case 'sample':
      if (positional.length !== 1) throw new UsageError('sample needs a RUN_DIR');
      console.log(sample(positional[0], flags));
      return 0;
    case 'report':
      if (positional.length !== 1) throw new UsageError('report needs a RUN_DIR');
      console.log(report(positional[0]));
      return 0;
    case 'oracle':
      return oracle(positional);
    case 'demo':
      await demo();
      return 0;
    case 'bench': {
      if (rest[0] === '--child') {
        // Internal: one engine of the bench in its own process (see bench/child.ts).
        await benchChild();
        return 0;
      }
      const json = rest.includes('--json');
      const quick = rest.includes('--quick');
      const unknown = rest.filter((a) => a !== '--json' && a !== '--quick');
      if (unknown.length) throw new UsageError(`bench takes only --quick and --json, got ${unknown.join(' ')}`);
      const result = await runBench(join(resolve(__dirname, '..'), 'data', 'austen_pride_prejudice.txt'), { quick, log: json ? () => {} : console.log });
      if (json) console.log(JSON.stringify(result));
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
    else console.error(`rnn-lab: ${err?.stack ?? err}`);
    process.exit(2);
  },
);
