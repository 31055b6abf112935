/** The training worker for worker_threads (the Node extension host; tests). See trainingHandler.ts. */
import { parentPort } from 'node:worker_threads';
import type { ToWorker } from '../protocol/trainingWorker';
import { nodeParallelHost } from './nodeParallel';
import { TrainingHandler } from './trainingHandler';

const port = parentPort;
if (!port) throw new Error('trainingNodeWorker must run in a worker_threads Worker');
const handler = new TrainingHandler((m, transfer) => port.postMessage(m, transfer), nodeParallelHost());
port.on('message', (msg: ToWorker) => handler.handle(msg));
