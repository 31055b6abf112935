/**
 * One engine of `rnn-lab bench` in its own process (`rnn-lab bench --child`, started by the
 * bench over IPC), so that its peak RSS is its own and a peer that hangs can be killed. The parent
 * sends `init`, then `window` requests one at a time (it alternates engines), then `exit`.
 */
import { readFileSync } from 'node:fs';
import { validateConfig } from '../../engine/config';
import { textDataset } from '../../engine/data';
import { gemmNT } from '../../engine/linalg';
import { allocF32 } from '../../engine/wasm/kernels';
import { Trainer } from '../../engine/trainer';
import { nodeMessageParallelHost, nodeParallelHost } from '../../worker/nodeParallel';
import { createPeer } from './tfjsPeer';

export type EngineName = 'rnn-lab' | 'rnn-lab+diag' | 'rnn-lab-all-cores' | 'rnn-lab-all-cores-messages' | 'tfjs-cpu' | 'tfjs-wasm' | 'torch-cpu' | 'torch-cpu-all-cores' | 'matmul-ceiling' | 'matmul-ceiling-js';

/**
 * The environment that holds a PyTorch peer to one thread (the bench's torch-cpu and its seq2seq
 * peer): torch.set_num_threads(1) does not reach the pthreads of Debian's OpenBLAS, which otherwise
 * run beside torch's one thread on a second core and slow it. The caller's own settings win.
 */
export const TORCH_ONE_THREAD_ENV = { OPENBLAS_NUM_THREADS: '1', OMP_NUM_THREADS: '1' };

/** The ceiling's unit of work: one C = A B^T of 256 x 256 x 256 by the register-tiled gemmNT. */
export const CEILING_N = 256;

/**
 * matmul-ceiling: gemmNT on float32 arrays in the kernels' arena, i.e. the WebAssembly SIMD kernel
 * (2x4 f32x4 tiles) the float32 engine runs; matmul-ceiling-js: the float64 JavaScript gemmNT.
 */
function ceilingKernel(wasm: boolean): Stepper {
  const n = CEILING_N;
  const make = (f: (i: number) => number) => {
    const a = wasm ? allocF32(n * n) : new Float64Array(n * n);
    for (let i = 0; i < n * n; i++) a[i] = f(i);
    return a;
  };
  const A = make(Math.sin);
  const B = make(Math.cos);
  const C = make(() => 0);
  return {
    info: `gemmNT ${n}^3, ${wasm ? 'float32 WebAssembly SIMD' : 'float64 JavaScript'}`,
    vocab: 0,
    step(): number {
      gemmNT(n, n, n, A, 0, n, B, 0, n, C, 0, n, 0);
      return C[0];
    },
  };
}

export interface ChildModel {
  cell: 'lstm' | 'gru' | 'rnn';
  layers: number;
  hidden: number;
  seq: number;
  batch: number;
}

export type ToChild =
  | { type: 'init'; engine: EngineName; model: ChildModel; dataFile: string; warmupSec: number; warmupSteps: number; threads?: number }
  | { type: 'window'; seconds: number; minSteps: number }
  | { type: 'exit' };

export type FromChild =
  | { type: 'ready'; info: string; startupSec: number; startupCpuSec: number; vocab: number; blas?: string[] }
  | { type: 'window'; seconds: number; cpuSeconds: number; steps: number; loss: number }
  | { type: 'rss'; peakRssMib: number }
  | { type: 'error'; message: string };

interface Stepper {
  /** One training step's loss (a promise where a step waits for messages). */
  step(): number | Promise<number>;
  info: string;
  vocab: number;
}

/**
 * `workers` > 1: the batch split over that many gradient workers (worker_threads), as rnn-lab
 * train --workers; over shared memory, or with `messages` over message transfer (the transport
 * VS Code for the web trains on, run here under worker_threads).
 */
function ours(model: ChildModel, text: string, file: string, diagnostics: boolean, workers = 1, messages = false): Stepper {
  // diagnostics: the defaults a user gets (diagEvery 25, spectrumEvery 100), driven like runSession.
  const config = validateConfig({
    cell: model.cell, layers: model.layers, hidden: model.hidden, seqLength: model.seq, batch: model.batch, steps: 1e7,
    optimizer: 'adam', lr: 0.002, clipMode: 'norm', clip: 5, evalEvery: 0, valFraction: 0,
    ...(diagnostics ? {} : { diagEvery: 0 }),
    workers,
  }).config;
  const parallel = workers > 1 ? (messages ? nodeMessageParallelHost() : nodeParallelHost()) : undefined;
  const trainer = new Trainer(config, textDataset(text, file, 0, model.batch * (model.seq + 1)), parallel);
  return {
    info: `${diagnostics ? `rnn-lab, diagnostics every ${config.diagEvery} steps, full spectrum every ${config.spectrumEvery}` : 'rnn-lab, diagnostics off'}, ${trainer.path} x ${trainer.workers} worker${trainer.workers === 1 ? '' : 's'}${trainer.transport ? ` (${trainer.transport})` : ''}${trainer.workersNote ? ` (${trainer.workersNote})` : ''}`,
    vocab: trainer.net.outputSize,
    step(): number | Promise<number> {
      const next = trainer.step + 1;
      const diagnose = config.diagEvery > 0 && (next % config.diagEvery === 0 || next === 1);
      const full = config.spectrumEvery > 0 && (next % config.spectrumEvery === 0 || next === 1);
      if (trainer.asyncSteps) return trainer.trainStepAsync(diagnose, full).then((r) => r.loss);
      return trainer.trainStep(diagnose, full).loss;
    },
  };
}

async function createStepper(msg: Extract<ToChild, { type: 'init' }>): Promise<Stepper> {
  if (msg.engine === 'matmul-ceiling' || msg.engine === 'matmul-ceiling-js') return ceilingKernel(msg.engine === 'matmul-ceiling');
  const text = readFileSync(msg.dataFile, 'utf8');
  if (msg.engine === 'rnn-lab' || msg.engine === 'rnn-lab+diag') return ours(msg.model, text, msg.dataFile, msg.engine === 'rnn-lab+diag');
  if (msg.engine === 'rnn-lab-all-cores' || msg.engine === 'rnn-lab-all-cores-messages') return ours(msg.model, text, msg.dataFile, false, msg.threads ?? 1, msg.engine === 'rnn-lab-all-cores-messages');
  // The same 75-symbol vocabulary and token stream as ours.
  const data = textDataset(text, msg.dataFile, 0, msg.model.batch * (msg.model.seq + 1));
  const peer = await createPeer(msg.engine === 'tfjs-cpu' ? 'cpu' : 'wasm', { ...msg.model, vocab: data.vocab.length }, data.train);
  return { ...peer, step: () => peer.step(), vocab: data.vocab.length };
}

/** The child's main loop; resolves when the parent says exit (or goes away). */
export function benchChild(): Promise<void> {
  return new Promise((resolve) => {
    const send = (m: FromChild) => process.send!(m);
    let stepper: Stepper | null = null;
    process.on('disconnect', () => resolve());
    process.on('message', async (msg: ToChild) => {
      try {
        if (msg.type === 'exit') {
          send({ type: 'rss', peakRssMib: process.resourceUsage().maxRSS / 1024 });
          process.disconnect();
          resolve();
        } else if (msg.type === 'init') {
          const t0 = performance.now();
          const cpu0 = process.cpuUsage();
          stepper = await createStepper(msg);
          // Warm-up: warmupSteps steps (JIT, first allocations, tfjs kernel setup) and warmupSec.
          let steps = 0;
          while (steps < msg.warmupSteps || performance.now() - t0 < msg.warmupSec * 1000) {
            await stepper.step();
            steps++;
          }
          const cpu = process.cpuUsage(cpu0);
          send({ type: 'ready', info: stepper.info, startupSec: (performance.now() - t0) / 1000, startupCpuSec: (cpu.user + cpu.system) / 1e6, vocab: stepper.vocab });
        } else if (msg.type === 'window') {
          if (!stepper) throw new Error('window before init');
          const t0 = performance.now();
          const cpu0 = process.cpuUsage();
          let steps = 0;
          let loss = NaN;
          while (steps < msg.minSteps || performance.now() - t0 < msg.seconds * 1000) {
            loss = await stepper.step();
            steps++;
          }
          const cpu = process.cpuUsage(cpu0);
          send({ type: 'window', seconds: (performance.now() - t0) / 1000, cpuSeconds: (cpu.user + cpu.system) / 1e6, steps, loss });
        }
      } catch (err) {
        send({ type: 'error', message: String((err as Error)?.message ?? err).split('\n')[0] });
      }
    });
  });
}
