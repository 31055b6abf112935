/**
 * The training worker as a Web Worker (VS Code for the web, whose extension host is itself a Web
 * Worker and cannot train on its own event loop). See trainingHandler.ts.
 */
import type { ToWorker } from '../protocol/trainingWorker';
import { TrainingHandler } from './trainingHandler';

// tsconfig loads the DOM lib too, which types `self` as a Window.
const scope = self as unknown as DedicatedWorkerGlobalScope;
// Gradient workers need shared memory, which a page has only when cross-origin isolated; and this
// worker is started from a blob: URL, from which no nested worker script can be resolved. So runs
// here train on this worker alone, and record why.
const parallel = {
  cores: navigator.hardwareConcurrency || 1,
  reason: scope.crossOriginIsolated
    ? 'VS Code for the web starts the training worker from a blob: URL, so it cannot start nested gradient workers'
    : 'VS Code for the web is not cross-origin isolated here, so it has no SharedArrayBuffer for gradient workers',
};
const handler = new TrainingHandler((m, transfer) => scope.postMessage(m, transfer), parallel);
scope.onmessage = (event: MessageEvent<ToWorker>) => handler.handle(event.data);
