/**
 * The training worker as a Web Worker (VS Code for the web, whose extension host is itself a Web
 * Worker and cannot train on its own event loop). See trainingHandler.ts.
 */
import type { ToWorker } from '../protocol/trainingWorker';
import { TrainingHandler } from './trainingHandler';

// tsconfig loads the DOM lib too, which types `self` as a Window.
const scope = self as unknown as DedicatedWorkerGlobalScope;
const handler = new TrainingHandler((m, transfer) => scope.postMessage(m, transfer));
scope.onmessage = (event: MessageEvent<ToWorker>) => handler.handle(event.data);
