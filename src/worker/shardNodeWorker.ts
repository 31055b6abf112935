/** A gradient worker for worker_threads (nested in the Node training worker, or under the CLI). See shardHandler.ts. */
import { workerData } from 'node:worker_threads';
import { serveShard } from './shardHandler';
import type { ShardInit } from './shardMemory';

serveShard(workerData as ShardInit);
