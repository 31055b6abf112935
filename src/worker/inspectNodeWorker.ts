/** The inspect worker for worker_threads (the Node extension host; tests). See inspectHandler.ts. */
import { parentPort } from 'node:worker_threads';
import type { ToInspectWorker } from '../protocol/inspectWorker';
import { InspectHandler } from './inspectHandler';

const port = parentPort;
if (!port) throw new Error('inspectNodeWorker must run in a worker_threads Worker');
const handler = new InspectHandler();
port.on('message', (msg: ToInspectWorker) => {
  const { reply, transfer } = handler.handle(msg);
  port.postMessage(reply, transfer);
});
