/**
 * The seq2seq config of `rnn-lab bench`: reversal of digit strings of length 5-10, embedding 64,
 * LSTM 64, dot attention, batch 128, Adam 3e-3, global-norm clipping at 5; held-out greedy exact
 * match on 1000 examples every 100 steps; the figure is the time to reach 99%. The PyTorch peer
 * (torch_seq2seq.py, the same model and rule, one thread, float32) runs in the same bench after
 * ours. Both report wall seconds and CPU seconds of their own process (the machine is shared:
 * CPU time does not count waiting for a core); evaluation time is included in both.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { validateConfig } from '../../engine/config';
import { Seq2SeqTrainer, seq2seqData } from '../../engine/seq2seqTrainer';
import { TORCH_ONE_THREAD_ENV } from './child';

export interface Seq2SeqBenchSide {
  reached: boolean;
  steps: number;
  wallSeconds: number;
  cpuSeconds: number;
  exactMatch: number;
  curve: [number, number, number][];
}

export interface Seq2SeqBenchResult {
  name: 's2s';
  description: string;
  target: number;
  'rnn-lab': Seq2SeqBenchSide;
  pytorch: Seq2SeqBenchSide | null;
  skipped?: string;
}

const MODEL = { task: 'reverse', srcLen: '5-10', embedding: 64, hidden: 64, cell: 'lstm', attention: 'dot', batch: 128, lr: 3e-3, clip: 5, heldOut: 1000 } as const;
const EVAL_EVERY = 100;
const TARGET = 0.99;

export function runSeq2SeqBench(maxSeconds: number, log: (s: string) => void, seed = 1): Seq2SeqBenchResult {
  const description = 'reverse digits, lengths 5-10, embedding 64, LSTM 64, dot attention, batch 128, Adam 3e-3, clip 5; greedy exact match on 1000 held out every 100 steps';
  const ours = runOurs(maxSeconds, seed, log);
  log(`s2s: rnn-lab ${ours.reached ? 'reached' : 'did not reach'} ${100 * TARGET}% held-out exact match${ours.reached ? ` in ${ours.wallSeconds.toFixed(1)} s wall, ${ours.cpuSeconds.toFixed(1)} s CPU, ${ours.steps} steps` : ` in ${ours.steps} steps (${(100 * ours.exactMatch).toFixed(1)}%)`}`);
  const script = [resolve(__dirname, '..', 'src', 'cli', 'bench', 'torch_seq2seq.py'), resolve(__dirname, 'torch_seq2seq.py')].find((p) => existsSync(p));
  const result: Seq2SeqBenchResult = { name: 's2s', description, target: TARGET, 'rnn-lab': ours, pytorch: null };
  if (!script) {
    result.skipped = 'torch_seq2seq.py not found beside the bundle';
    return result;
  }
  const args = ['--task', 'reverse', '--src-len', MODEL.srcLen, '--embed', '64', '--hidden', '64', '--cell', 'lstm', '--attention', 'dot', '--batch', '128', '--lr', String(MODEL.lr), '--clip', '5', '--held-out', '1000', '--eval-every', String(EVAL_EVERY), '--target', String(TARGET), '--max-seconds', String(3 * maxSeconds), '--seed', String(seed), '--threads', '1'];
  // /usr/bin/time -f: the peer's own user + system CPU seconds, on stderr's last line.
  const timed = existsSync('/usr/bin/time');
  // Debian's python3-torch lives under /usr/bin/python3; a python3 earlier on PATH may lack torch.
  const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
  const env = { ...TORCH_ONE_THREAD_ENV, ...process.env };
  const r = timed
    ? spawnSync('/usr/bin/time', ['-f', 'CPU %U %S', python, script, ...args], { encoding: 'utf8', env, timeout: (3 * maxSeconds + 120) * 1000 })
    : spawnSync(python, [script, ...args], { encoding: 'utf8', env, timeout: (3 * maxSeconds + 120) * 1000 });
  const line = (r.stdout ?? '').trim().split('\n').pop() ?? '';
  let peer: { reached: boolean; steps: number; wallSeconds: number; exactMatch: number; curve: [number, number, number, number][] };
  try {
    peer = JSON.parse(line);
  } catch {
    result.skipped = `PyTorch peer gave no result (${(r.stderr ?? '').trim().split('\n').slice(-1)[0] || r.error?.message || `exit ${r.status}`})`;
    log(`s2s: PyTorch ${result.skipped}`);
    return result;
  }
  const cpu = timed ? /CPU ([\d.]+) ([\d.]+)\s*$/.exec(r.stderr ?? '') : null;
  result.pytorch = {
    reached: peer.reached,
    steps: peer.steps,
    wallSeconds: peer.wallSeconds,
    cpuSeconds: cpu ? Number(cpu[1]) + Number(cpu[2]) : NaN,
    exactMatch: peer.exactMatch,
    curve: peer.curve.map(([step, t, em]) => [step, t, em]),
  };
  const p = result.pytorch;
  log(`s2s: PyTorch (1 thread, float32) ${p.reached ? 'reached' : 'did not reach'} it${p.reached ? ` in ${p.wallSeconds.toFixed(1)} s wall, ${p.cpuSeconds.toFixed(1)} s CPU (with start-up), ${p.steps} steps` : ` in ${p.steps} steps (${(100 * p.exactMatch).toFixed(1)}%)`}`);
  return result;
}

function runOurs(maxSeconds: number, seed: number, log: (s: string) => void): Seq2SeqBenchSide {
  const config = validateConfig({ ...MODEL, name: 'bench-s2s', seed, diagEvery: 0, evalEvery: EVAL_EVERY, steps: 1_000_000, pinned: 0 }).config;
  const trainer = new Seq2SeqTrainer(config, seq2seqData(config));
  const wall0 = Date.now();
  const cpu0 = process.cpuUsage();
  const cpuSeconds = () => {
    const c = process.cpuUsage(cpu0);
    return (c.user + c.system) / 1e6;
  };
  const curve: [number, number, number][] = [];
  let em = 0;
  // The budget is CPU seconds: on a loaded machine the wall clock would cut a run short.
  while (cpuSeconds() < maxSeconds) {
    trainer.trainStep(false, false);
    if (trainer.step % EVAL_EVERY === 0) {
      em = trainer.evaluate().exactMatch;
      curve.push([trainer.step, Math.round((Date.now() - wall0) / 10) / 100, em]);
      log(`   rnn-lab step ${trainer.step}: ${(100 * em).toFixed(1)}% at ${((Date.now() - wall0) / 1000).toFixed(1)} s wall, ${cpuSeconds().toFixed(1)} s CPU`);
      if (em >= TARGET) break;
    }
  }
  return { reached: em >= TARGET, steps: trainer.step, wallSeconds: (Date.now() - wall0) / 1000, cpuSeconds: cpuSeconds(), exactMatch: em, curve };
}


