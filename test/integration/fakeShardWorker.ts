/**
 * dist-test/integration/fakeShardWorker.js: the web host's gradient worker (src/worker/shardWebWorker.ts)
 * except that its third step never gets an answer: the worker throws an uncaught error instead,
 * which its host sees through the Worker's onerror, as it sees a gradient worker that dies. The
 * faults suite checks that the run then fails with one message and does not wait forever.
 */
import { serveShardMessages } from '../../src/worker/shardMessages';

const scope = self as unknown as DedicatedWorkerGlobalScope;
scope.onmessage = (event: MessageEvent<{ type: 'port'; port: MessagePort }>) => {
  if (event.data?.type !== 'port') return;
  const port = event.data.port;
  let steps = 0;
  serveShardMessages({
    postMessage: (m, transfer) => port.postMessage(m, transfer),
    start: () => port.start(),
    close: () => port.close(),
    addEventListener: (type, listener) =>
      port.addEventListener(type, (e) => {
        if ((e.data as { type?: string }).type === 'step' && ++steps === 3) {
          // Thrown from a timer so that it reaches the worker's global scope uncaught.
          setTimeout(() => {
            throw new Error('fake gradient worker threw at its third step');
          });
          return;
        }
        listener(e);
      }),
  });
};
