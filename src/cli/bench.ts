/**
 * `rnn-lab bench`: training throughput of our engine on the sample text (character LM, Adam,
 * global-norm clipping at 5, diagnostics off), median of several timed windows after warm-up,
 * with model GFLOP/s against a tiled-matmul ceiling measured in the same run. The peer
 * comparison (tfjs cpu / wasm) is not in yet: see the performance issue.
 *
 * FLOPs counted per step: 2mnk for every matrix product of forward and backward. The one-hot
 * input of layer 0 is a row lookup for us (no multiply), so its projection counts as 0.
 */
import { readFileSync } from 'node:fs';
import { validateConfig } from '../engine/config';
import { textDataset } from '../engine/data';
import { gemmNT } from '../engine/linalg';
import { Trainer } from '../engine/trainer';

interface BenchConfig {
  name: string;
  cell: 'lstm' | 'gru' | 'rnn';
  layers: number;
  hidden: number;
  seq: number;
  batch: number;
}

export const BENCH_CONFIGS: BenchConfig[] = [
  { name: 'a', cell: 'lstm', layers: 1, hidden: 128, seq: 50, batch: 1 },
  { name: 'b', cell: 'lstm', layers: 1, hidden: 128, seq: 50, batch: 32 },
  { name: 'c', cell: 'gru', layers: 1, hidden: 128, seq: 50, batch: 32 },
  { name: 'd', cell: 'lstm', layers: 2, hidden: 256, seq: 100, batch: 32 },
  { name: 'rnn', cell: 'rnn', layers: 1, hidden: 128, seq: 50, batch: 32 },
];

function stepFlops(c: BenchConfig, V: number): number {
  const G = c.cell === 'lstm' ? 4 : c.cell === 'gru' ? 3 : 1;
  const N = c.seq * c.batch;
  const H = c.hidden;
  let forward = 0;
  let backward = 0;
  for (let l = 0; l < c.layers; l++) {
    const recurrent = 2 * N * H * G * H;
    forward += recurrent;
    backward += 2 * recurrent; // dW_hh and dh_{t-1}
    if (l > 0) {
      forward += 2 * N * H * G * H;
      backward += 2 * 2 * N * H * G * H; // dW_ih and dX
    }
  }
  forward += 2 * N * H * V; // head
  backward += 2 * 2 * N * H * V;
  return forward + backward;
}

/** GFLOP/s of the register-tiled gemmNT kernel on 256^3 after warm-up: plain JS's practical ceiling here. */
export function matmulCeiling(seconds: number): number {
  const n = 256;
  const A = Float64Array.from({ length: n * n }, (_, i) => Math.sin(i));
  const B = Float64Array.from({ length: n * n }, (_, i) => Math.cos(i));
  const C = new Float64Array(n * n);
  for (let i = 0; i < 3; i++) gemmNT(n, n, n, A, 0, n, B, 0, n, C, 0, n, 0);
  const rates: number[] = [];
  for (let w = 0; w < 3; w++) {
    let reps = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < (seconds * 1000) / 3) {
      gemmNT(n, n, n, A, 0, n, B, 0, n, C, 0, n, 0);
      reps++;
    }
    rates.push((reps * 2 * n * n * n) / ((performance.now() - t0) / 1000) / 1e9);
  }
  return median(rates);
}

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

export interface BenchResult {
  ceiling_gflops: number;
  configs: { name: string; chars_per_s: Record<string, number>; model_gflops: number; peak_rss_mib: number }[];
}

export function runBench(dataFile: string, quick: boolean, log: (s: string) => void): BenchResult {
  const text = readFileSync(dataFile, 'utf8');
  const windowSec = quick ? 1.5 : 4;
  const windows = quick ? 3 : 5;
  const ceiling = matmulCeiling(quick ? 1.5 : 4);
  log(`tiled matmul ceiling: ${ceiling.toFixed(2)} GFLOP/s (gemmNT 256^3, one core)`);
  const result: BenchResult = { ceiling_gflops: round(ceiling), configs: [] };
  for (const c of BENCH_CONFIGS) {
    const config = validateConfig({
      cell: c.cell, layers: c.layers, hidden: c.hidden, seqLength: c.seq, batch: c.batch, steps: 1e6,
      optimizer: 'adam', lr: 0.002, clipMode: 'norm', clip: 5, diagEvery: 0, evalEvery: 0, valFraction: 0,
    }).config;
    const trainer = new Trainer(config, textDataset(text, dataFile, 0, c.batch * (c.seq + 1)));
    const V = trainer.net.outputSize;
    trainer.trainStep();
    trainer.trainStep();
    const rates: number[] = [];
    for (let w = 0; w < windows; w++) {
      const t0 = performance.now();
      let chars = 0;
      while (performance.now() - t0 < windowSec * 1000 || chars === 0) {
        trainer.trainStep();
        chars += c.seq * c.batch;
      }
      rates.push(chars / ((performance.now() - t0) / 1000));
    }
    const cps = median(rates);
    const gflops = ((cps / (c.seq * c.batch)) * stepFlops(c, V)) / 1e9;
    const rss = process.resourceUsage().maxRSS / 1024;
    log(`${c.name}: ${c.cell} ${c.layers}x${c.hidden}, seq ${c.seq}, batch ${c.batch}: ${Math.round(cps).toLocaleString('en-US')} chars/s, ${gflops.toFixed(2)} model GFLOP/s (${((100 * gflops) / ceiling).toFixed(0)}% of ceiling), peak RSS so far ${rss.toFixed(0)} MiB`);
    result.configs.push({ name: c.name, chars_per_s: { 'rnn-lab': Math.round(cps) }, model_gflops: round(gflops), peak_rss_mib: Math.round(rss) });
  }
  return result;
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
