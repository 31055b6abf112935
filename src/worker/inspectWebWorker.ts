/** The inspect worker as a Web Worker (VS Code for the web). See inspectHandler.ts. */
import type { ToInspectWorker } from '../protocol/inspectWorker';
import { InspectHandler } from './inspectHandler';

// tsconfig loads the DOM lib too, which types `self` as a Window.
const scope = self as unknown as DedicatedWorkerGlobalScope;
const handler = new InspectHandler();
scope.onmessage = (event: MessageEvent<ToInspectWorker>) => {
  const { reply, transfer } = handler.handle(event.data);
  scope.postMessage(reply, transfer);
};
