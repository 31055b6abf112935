/**
 * dist/shard-worker.js under worker_threads (nested in the Node training worker, or under the CLI):
 * a gradient worker (shardHandler.ts), or the pool's watchdog (nodeParallel.ts).
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { serveShard } from './shardHandler';
import { markDead, type ShardInit } from './shardMemory';

/** What nodeParallel.ts gives the watchdog at its start; each worker's far end of its lifeline follows as a message. */
export interface WatchdogInit {
  watch: SharedArrayBuffer;
  workers: number;
}

const data = workerData as (ShardInit & { lifeline: MessagePort }) | WatchdogInit;
if ('watch' in data) {
  const control = new Int32Array(data.watch);
  let ended = 0;
  parentPort!.on('message', ({ index, port }: { index: number; port: MessagePort }) => {
    port.on('close', () => {
      markDead(control, data.workers, index);
      if (++ended === data.workers) process.exit(0);
    });
  });
} else {
  // Held for as long as this thread runs (serveShard never returns while the run trains): its far
  // end closes when this thread ends, however it ends.
  const lifeline = data.lifeline;
  serveShard(data);
  lifeline.close();
}
