/**
 * Parallel training where worker_threads exist (the Node extension host's training worker, the
 * CLI): gradient workers run dist/shard-worker.js beside the bundle that starts them.
 */
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { ParallelHost } from '../engine/shard';
import { startShards } from './shardPool';

export function nodeParallelHost(script = join(__dirname, 'shard-worker.js')): ParallelHost {
  return {
    cores: availableParallelism(),
    start: (plan) =>
      startShards(plan, (init) => {
        const worker = new Worker(script, { workerData: init });
        // A pool left open by a failure must not keep the process alive.
        worker.unref();
        return { terminate: () => void worker.terminate() };
      }),
  };
}
