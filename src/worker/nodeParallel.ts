/**
 * Parallel training where worker_threads exist (the Node extension host's training worker, the
 * CLI): gradient workers run dist/shard-worker.js beside the bundle that starts them, and so does
 * their watchdog. The coordinator sits in Atomics.wait during a step, so it would never see a
 * worker's exit event; instead each worker holds one end of a MessageChannel (its lifeline) whose
 * other end the watchdog thread listens on, and when the worker's thread ends, however it ends
 * (an exit, an uncaught error, running out of memory, terminate), that end closes and the
 * watchdog marks the worker dead in the shared control words (shardMemory.ts markDead).
 */
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { MessageChannel, Worker } from 'node:worker_threads';
import type { ParallelHost } from '../engine/shard';
import { startShards } from './shardPool';

export function nodeParallelHost(script = join(__dirname, 'shard-worker.js')): ParallelHost {
  return {
    cores: availableParallelism(),
    start: (plan) => {
      let watchdog: Worker | undefined;
      return startShards(
        plan,
        (init) => {
          if (!watchdog) {
            watchdog = new Worker(script, { workerData: { watch: init.buffers.control, workers: plan.workers } });
            watchdog.unref();
          }
          const { port1, port2 } = new MessageChannel();
          watchdog.postMessage({ index: init.index, port: port2 }, [port2]);
          const worker = new Worker(script, { workerData: { ...init, lifeline: port1 }, transferList: [port1] });
          // A pool left open by a failure must not keep the process alive.
          worker.unref();
          return { terminate: () => void worker.terminate() };
        },
        () => void watchdog?.terminate(),
      );
    },
  };
}
