/**
 * The training worker as a Web Worker (VS Code for the web, whose extension host is itself a Web
 * Worker and cannot train on its own event loop). See trainingHandler.ts.
 */
import type { ToWorker } from '../protocol/trainingWorker';
import type { ParallelHost } from '../engine/shard';
import { startMessageShards, type MessageShards } from './shardMessages';
import { TrainingHandler } from './trainingHandler';

// tsconfig loads the DOM lib too, which types `self` as a Window.
const scope = self as unknown as DedicatedWorkerGlobalScope;

// A page that is not cross-origin isolated has no SharedArrayBuffer, and this worker, started from
// a blob: URL, cannot start nested workers. So the extension host starts a run's gradient workers
// itself and hands this worker one port to each with the start message: the batch is then split
// over them by message transfer (shardMessages.ts). One run per worker, so these are that run's.
let ports: MessagePort[] = [];
let portsNote: string | undefined;
let shards: MessageShards | undefined;
/** Gradient workers that died before the run's transport started: it starts with them ended. */
const endedEarly: { index: number; message: string }[] = [];

const parallel: ParallelHost = {
  cores: navigator.hardwareConcurrency || 1,
  start: (plan) => {
    const given = ports;
    ports = [];
    if (given.length === 0) return { reason: portsNote ?? 'VS Code for the web started no gradient workers for this run' };
    if (given.length !== plan.workers) {
      for (const port of given) port.close();
      return { reason: `VS Code for the web started ${given.length} gradient workers, and this run splits its batch over ${plan.workers}` };
    }
    shards = startMessageShards(plan, given);
    for (const e of endedEarly) shards.ended(e.index, e.message);
    return shards;
  },
};
const handler = new TrainingHandler((m, transfer) => scope.postMessage(m, transfer), parallel);
scope.onmessage = (event: MessageEvent<ToWorker>) => {
  const msg = event.data;
  if (msg.type === 'gradientWorkerEnded') {
    if (shards) shards.ended(msg.index, msg.message);
    else endedEarly.push({ index: msg.index, message: msg.message });
    return;
  }
  if (msg.type === 'start') {
    ports = msg.gradientPorts ?? [];
    portsNote = msg.gradientWorkersNote;
  }
  handler.handle(msg);
};
