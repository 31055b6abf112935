/**
 * The training worker for worker_threads (VS Code desktop's Node extension host, and tests).
 * Same protocol as the Web Worker entry: ToWorker in, FromWorker out.
 */
import { parentPort } from 'node:worker_threads';
import type { FromWorker, ToWorker } from '../protocol/trainingWorker';
import { runSession } from '../engine/session';

const port = parentPort;
if (!port) throw new Error('nodeWorker must run in a worker_threads Worker');
let current: { runId: string; stop: boolean } | undefined;

port.on('message', (msg: ToWorker) => {
  if (msg.type === 'stop') {
    if (current?.runId === msg.runId) current.stop = true;
    return;
  }
  if (current) {
    port.postMessage({ type: 'done', runId: msg.runId, summary: { status: 'failed', step: 0, message: 'this worker is already training a run' } } satisfies FromWorker);
    return;
  }
  const run = { runId: msg.runId, stop: false };
  current = run;
  const post = (m: FromWorker) => {
    // Checkpoint bytes are transferred, not copied.
    if (m.type === 'checkpoint') port.postMessage(m, [m.bytes.buffer as ArrayBuffer, ...(m.resumeState ? [m.resumeState.buffer as ArrayBuffer] : [])]);
    else port.postMessage(m);
  };
  runSession(msg, post, () => run.stop)
    .catch((err) => post({ type: 'done', runId: msg.runId, summary: { status: 'failed', step: 0, message: String(err?.message ?? err) } }))
    .finally(() => (current = undefined));
});
