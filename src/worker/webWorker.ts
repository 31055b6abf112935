/**
 * The training worker as a Web Worker (VS Code for the web, whose extension host is itself a Web
 * Worker and cannot train on its own event loop). Same protocol as the worker_threads entry:
 * ToWorker in, FromWorker out; one worker per run, started and terminated by TrainingSession.
 */
import type { RunSummary } from '../protocol/config';
import type { FromWorker, ToWorker } from '../protocol/trainingWorker';
import { EngineError } from '../engine/errors';
import { runSession } from '../engine/session';

// tsconfig loads the DOM lib too, which types `self` as a Window.
const scope = self as unknown as DedicatedWorkerGlobalScope;

let current: { runId: string; stopRequested: boolean } | undefined;

scope.onmessage = (event: MessageEvent<ToWorker>) => {
  const msg = event.data;
  switch (msg.type) {
    case 'start':
      void start(msg);
      break;
    case 'stop':
      // runSession polls shouldStop() between steps; it must yield to the event loop now and
      // then, or this message is only read after the run has ended.
      if (current?.runId === msg.runId) current.stopRequested = true;
      break;
  }
};

async function start(msg: Extract<ToWorker, { type: 'start' }>): Promise<void> {
  const { runId, config, dataText } = msg;
  let doneSent = false;
  let lastStep = 0;
  const post = (m: FromWorker): void => {
    if (m.type === 'done') doneSent = true;
    if (m.type === 'metrics') lastStep = m.record.step;
    scope.postMessage(m);
  };
  const finish = (summary: RunSummary): void => {
    if (!doneSent) post({ type: 'done', runId, summary });
  };

  if (current) {
    finish({ status: 'failed', step: 0, message: `this worker is already training run ${current.runId}` });
    return;
  }
  const run = { runId, stopRequested: false };
  current = run;
  try {
    await runSession({ runId, config, dataText, resume: msg.resume, keepResumable: msg.keepResumable }, post, () => run.stopRequested);
    // runSession is expected to send its own 'done'; this only covers a run that forgot to.
    finish({ status: run.stopRequested ? 'stopped' : 'finished', step: lastStep });
  } catch (err) {
    finish({ status: 'failed', step: lastStep, message: describeError(err) });
  } finally {
    current = undefined;
  }
}

function describeError(err: unknown): string {
  if (err instanceof EngineError) return err.line;
  if (err instanceof Error) return err.message;
  return String(err);
}
