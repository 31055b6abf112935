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
import { startMessageShards } from './shardMessages';
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

/**
 * The message transport (shardMessages.ts) under worker_threads: K gradient workers running
 * dist/shard-worker.js, each given one end of a MessageChannel. Hosts without SharedArrayBuffer
 * use this transport; here it lets the unit tests check it against the shared-memory one on the
 * same engine. A worker's thread that ends (exit, uncaught error, terminate) fails the step it
 * was in, or the next one.
 */
export function nodeMessageParallelHost(script = join(__dirname, 'shard-worker.js')): ParallelHost {
  return {
    cores: availableParallelism(),
    start: (plan) => {
      const channels = Array.from({ length: plan.workers }, () => new MessageChannel());
      const threads = channels.map(({ port2 }, index) => new Worker(script, { workerData: { port: port2, index }, transferList: [port2] }));
      const shards = startMessageShards(plan, channels.map((c) => c.port1));
      threads.forEach((thread, k) => {
        thread.on('error', (err) => shards.ended(k, `its thread failed: ${err.message}`));
        thread.on('exit', (code) => shards.ended(k, `its thread exited with code ${code}`));
        // A pool left open by a failure must not keep the process alive.
        thread.unref();
      });
      return shards;
    },
  };
}
