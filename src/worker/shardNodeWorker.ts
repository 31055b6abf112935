/**
 * dist/shard-worker.js under worker_threads (nested in the Node training worker, or under the CLI):
 * a gradient worker over shared memory (shardHandler.ts), the pool's watchdog (nodeParallel.ts),
 * or, given a `port`, a gradient worker over messages (shardMessages.ts; the transport of hosts
 * without SharedArrayBuffer, which the unit tests drive here with worker_threads).
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { serveShard } from './shardHandler';
import { serveShardMessages } from './shardMessages';
import { markDead, type ShardInit } from './shardMemory';

/** What nodeParallel.ts gives the watchdog at its start; each worker's far end of its lifeline follows as a message. */
export interface WatchdogInit {
  watch: SharedArrayBuffer;
  workers: number;
}

const data = workerData as (ShardInit & { lifeline: MessagePort }) | WatchdogInit | { port: MessagePort };
if ('port' in data) {
  // Serves until the coordinator's stop closes the port; the thread then has nothing left and ends.
  serveShardMessages(data.port);
} else if ('watch' in data) {
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
