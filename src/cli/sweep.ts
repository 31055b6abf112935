/**
 * `rnn-lab train SWEEP.rnn.json`: a run config with a "sweep" field trains its whole grid
 * (engine/sweep.ts validates every config before the first starts), each run an ordinary run
 * folder under --out (default .rnn-lab/runs) with a sweep.json beside its config.json, then prints
 * the table of the varied fields against the final metrics (the report panel's table).
 *
 * One run after another in this process by default; --parallel N trains N at once, each in its
 * own child process (`rnn-lab train SWEEP --sweep-run I ...`, a flag for this use only), since one
 * process trains on one thread. Ctrl-C (SIGINT, SIGTERM): the training runs checkpoint and stop,
 * and no queued run starts. The children are in their own process groups and get the signal from
 * this process, once (a second one would make a child exit without its last checkpoint).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { resolveDataPath } from '../engine/config';
import { EngineError } from '../engine/errors';
import { expandSweep, MAX_SWEEP_RUNS, sweepLabel, type ExpandedSweep } from '../engine/sweep';
import { usesDataFile, type RunConfig, type RunStatus, type RunSummary, type SweepMember } from '../protocol/config';
import { nodeRunFs } from '../runFolder/nodeRunFs';
import { freeRunId, readJson, runFiles, runPath, runStamp, safeRunName, writeSweepMember } from '../runFolder/runFolder';
import { readSweepRow, sweepTableText } from '../runFolder/sweepTable';
import { readDataFile, readJsonFile, shown } from './files';
import { createRunDir, DEFAULT_RUNS_ROOT, runDir, type RunDir } from './runDir';
import { takeWriterLock } from './writerLock';

export const SWEEP_HELP = `       rnn-lab train SWEEP.rnn.json [--parallel N] [--out DIR]
  A run config with "sweep": {"hiddenScale": [0.5, 1, 1.5], "cell": ["rnn", "lstm"]} trains every
  combination (the last field varying fastest; at most ${MAX_SWEEP_RUNS} runs), each validated before any
  starts, as run folders under --out (default ${DEFAULT_RUNS_ROOT}), then prints their values against
  final loss, best validation loss/bpc, exact match (seq2seq), steps and time. One run after
  another; --parallel N trains N at once in child processes. "data" is relative to the config file.`;

const SWEEP_FLAGS = ['parallel', 'out', 'sweep-run', 'sweep-id'];

type TrainInDir = (run: RunDir, config: RunConfig, text: string, quiet: boolean) => Promise<void>;

/** Trains one run of the grid holding its writer lock, as `rnn-lab train` does. */
async function trainLocked(trainInDir: TrainInDir, run: RunDir, config: RunConfig, text: string): Promise<void> {
  const release = takeWriterLock(run.dir);
  try {
    await trainInDir(run, config, text, true);
  } finally {
    release();
  }
}

/** Whether `train`'s one positional argument is a sweep config (a *.rnn.json file with a "sweep" field). */
export function sweepConfigArg(positional: string[]): Record<string, unknown> | undefined {
  if (positional.length !== 1 || !/\.rnn\.json$/i.test(positional[0])) return undefined;
  const raw = readJsonFile(positional[0], 'run config', 'Fix the JSON and try again.');
  return raw && typeof raw === 'object' && !Array.isArray(raw) && Object.hasOwn(raw, 'sweep') ? (raw as Record<string, unknown>) : undefined;
}

function wholeFlag(flags: Map<string, string>, name: string, min: number, max: number): number | undefined {
  const v = flags.get(name);
  if (v === undefined) return undefined;
  if (!/^\d{1,6}$/.test(v) || Number(v) < min || Number(v) > max) throw new EngineError('bad-config', `--${name} must be a whole number from ${min} to ${max}, got ${JSON.stringify(v.slice(0, 40))}`, `e.g. --${name} ${min}`);
  return Number(v);
}

/** Trains a sweep config's grid; returns the folder holding its runs. */
export async function trainSweep(file: string, raw: Record<string, unknown>, flags: Map<string, string>, trainInDir: TrainInDir): Promise<string> {
  const other = [...flags.keys()].find((k) => !SWEEP_FLAGS.includes(k));
  if (other !== undefined) throw new EngineError('bad-config', `a sweep config takes no --${other.slice(0, 40)}`, 'Write the field into the sweep config file; only --parallel N and --out DIR apply to a sweep.');
  const grid = expandSweep(raw, shown(file));
  for (const w of grid.warnings) console.error(`warning: ${w}`);
  const parallel = wholeFlag(flags, 'parallel', 1, MAX_SWEEP_RUNS) ?? 1;
  const only = wholeFlag(flags, 'sweep-run', 0, grid.runs.length - 1);
  const config0 = grid.runs[0].config;
  // Every run of a sweep reads the one data file, relative to the config file.
  const data = usesDataFile(config0) ? join(dirname(file), resolveDataPath('', config0.data, shown(file))) : '';
  const text = data ? readDataFile(data, config0.maxFileBytes) : '';
  const member = (index: number, id: string): SweepMember => ({ id, name: grid.name, index, total: grid.runs.length, values: grid.runs[index].values });
  const configOf = (index: number): RunConfig => ({ ...grid.runs[index].config, data: data || grid.runs[index].config.data });

  if (only !== undefined) {
    // A child of --parallel: one run of the grid into the --out its parent chose.
    const id = flags.get('sweep-id') ?? `${runStamp(new Date())}-${safeRunName(grid.name)}`;
    const run = await createRunDir(flags.get('out'), configOf(only));
    await writeSweepMember(run.fs, run.id, member(only, id));
    await trainLocked(trainInDir, run, configOf(only), text);
    return run.dir;
  }

  const root = flags.get('out') ?? DEFAULT_RUNS_ROOT;
  const sweepId = `${runStamp(new Date())}-${safeRunName(grid.name)}`;
  console.log(`sweep ${grid.name}: ${grid.runs.length} runs (${grid.keys.join(' x ')}), ${parallel === 1 ? 'one after another' : `${parallel} at once in child processes`}, in ${shown(root)}`);
  let interrupted = false;
  const children = new Set<ChildProcess>();
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = true;
    process.exitCode = signal === 'SIGTERM' ? 143 : 130;
    for (const c of children) c.kill(signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const dirs: (string | undefined)[] = new Array(grid.runs.length);
  try {
    if (parallel === 1) {
      for (let i = 0; i < grid.runs.length && !interrupted; i++) {
        const run = await createRunDir(undefined, configOf(i), root);
        await writeSweepMember(run.fs, run.id, member(i, sweepId));
        dirs[i] = run.dir;
        console.log(`[${i + 1}/${grid.runs.length}] ${sweepLabel(grid.runs[i].values)} -> ${run.dir}`);
        await trainLocked(trainInDir, run, configOf(i), text);
        if (Number(process.exitCode ?? 0) >= 128) interrupted = true;
      }
    } else {
      await runChildren(file, grid, parallel, root, sweepId, dirs, () => interrupted, children);
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  const rows = [];
  for (let i = 0; i < dirs.length; i++) {
    const dir = dirs[i];
    if (!dir) continue;
    const run = runDir(dir);
    const summary = await readJson<RunSummary>(run.fs, runPath(run.id, runFiles.summary));
    const status: RunStatus = summary?.status ?? 'stopped';
    rows.push(await readSweepRow(nodeRunFs(dirname(dir)), { id: run.id, sweep: member(i, sweepId), status, summary }));
  }
  console.log('');
  console.log(sweepTableText(grid.keys, rows));
  const notStarted = grid.runs.length - rows.length;
  if (notStarted > 0) console.log(`${notStarted} of ${grid.runs.length} runs not started (stopped); rnn-lab train --resume RUN_DIR continues a stopped one`);
  if (rows.some((r) => r.status === 'failed' || r.status === 'diverged')) process.exitCode ??= 2;
  return root;
}

/** --parallel: each run in a child `rnn-lab train SWEEP --sweep-run I`, at most `parallel` at once, started in grid order. */
async function runChildren(file: string, grid: ExpandedSweep, parallel: number, root: string, sweepId: string, dirs: (string | undefined)[], interrupted: () => boolean, children: Set<ChildProcess>): Promise<void> {
  const fs = nodeRunFs(root);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < grid.runs.length && !interrupted()) {
      const i = next++;
      // The run folder's id is chosen here (unique under root, reserved by the ones chosen before) and created by the child.
      const id = await freeRunId(fs, grid.runs[i].config.name, new Date(), (candidate) => dirs.some((d) => d === join(root, candidate)));
      const dir = join(root, id);
      dirs[i] = dir;
      console.log(`[${i + 1}/${grid.runs.length}] ${sweepLabel(grid.runs[i].values)} -> ${dir}`);
      const code = await new Promise<number>((resolveExit) => {
        const child = spawn(process.execPath, [process.argv[1], 'train', file, '--sweep-run', String(i), '--sweep-id', sweepId, '--out', dir], { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
        children.add(child);
        let err = '';
        child.stderr.on('data', (b: Buffer) => (err = (err + b.toString()).slice(-2000)));
        child.on('error', (e) => ((err += e.message), resolveExit(1)));
        child.on('exit', (c, signal) => {
          children.delete(child);
          if (c !== 0 && err.trim()) console.error(`[${i + 1}/${grid.runs.length}] ${err.trim().split('\n').at(-1)}`);
          resolveExit(c ?? (signal ? 128 : 1));
        });
      });
      if (code >= 128) return;
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, grid.runs.length) }, worker));
}
