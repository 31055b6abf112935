/** What the two data-parallelism suites (parallel.test.ts, parallelMessages.test.ts) train on and compare with. */
import { validateConfig } from '../../src/engine/config';
import { textDataset } from '../../src/engine/data';
import type { ParallelHost } from '../../src/engine/shard';
import { Trainer } from '../../src/engine/trainer';
import type { RunConfig } from '../../src/protocol/config';

export const text = 'It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of a wife. '.repeat(30);

/** A 2-layer LSTM of 16 on `text`, batch 7 (K=2 and K=3 split it unevenly), diagnostics every 5 steps. */
export function config(over: Partial<RunConfig> = {}): RunConfig {
  return validateConfig({ cell: 'lstm', layers: 2, hidden: 16, seqLength: 8, batch: 7, steps: 20, lr: 0.01, diagEvery: 5, spectrumEvery: 10, ...over }).config;
}

export function trainer(c: RunConfig, parallel?: ParallelHost): Trainer {
  return new Trainer(c, textDataset(text, 't', 0.1, c.batch * (c.seqLength + 1)), parallel);
}

/** The largest difference of a and b relative to b's largest magnitude. */
export function maxRel(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    s = Math.max(s, Math.abs(b[i]));
  }
  return d / s;
}
