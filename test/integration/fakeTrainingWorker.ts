// A stand-in for the training worker that speaks the real protocol without the engine, so the
// integration suite can test TrainingSession's worker plumbing in the real extension host.
// config.steps metrics, 5 ms apart; config.name 'crash' throws inside the worker; a name
// 'throw-at-N' posts N metrics and then throws an uncaught error (a worker failing mid-run).
// Built twice: a Web Worker script (web host) and a worker_threads script (Node host).
import type { MetricsRecord } from '../../src/protocol/config';
import type { FromWorker, ToWorker } from '../../src/protocol/trainingWorker';

interface Port {
  post(m: FromWorker): void;
  listen(handler: (msg: ToWorker) => void): void;
}

function webPort(): Port {
  const scope = self as unknown as DedicatedWorkerGlobalScope;
  return { post: (m) => scope.postMessage(m), listen: (h) => (scope.onmessage = (e: MessageEvent<ToWorker>) => h(e.data)) };
}

function nodePort(): Port {
  // Only the worker_threads build reaches this; `require` is Node's there.
  const { parentPort } = require('node:worker_threads') as typeof import('node:worker_threads');
  if (!parentPort) throw new Error('fakeTrainingWorker must run in a worker_threads Worker');
  return {
    post: (m) => parentPort.postMessage(m),
    listen: (h) =>
      parentPort.on('message', (msg: ToWorker) => {
        // An exception in a 'message' listener is what makes the worker fail, as in a Web Worker.
        h(msg);
      }),
  };
}

const port = typeof self !== 'undefined' && typeof (self as { postMessage?: unknown }).postMessage === 'function' ? webPort() : nodePort();
const stopRequested = new Set<string>();

port.listen((msg) => {
  if (msg.type === 'stop') {
    stopRequested.add(msg.runId);
    return;
  }
  if (msg.type !== 'start') return;
  if (msg.config.name === 'crash') throw new Error('fake worker crashed on purpose');
  const throwAt = /^throw-at-(\d+)$/.exec(msg.config.name);
  void run(msg.runId, msg.config.steps, msg.dataText.length, throwAt ? Number(throwAt[1]) : undefined);
});

async function run(runId: string, steps: number, seen: number, throwAt?: number): Promise<void> {
  const post = (m: FromWorker) => port.post(m);
  post({ type: 'started', runId, paramCount: 42, vocab: ['a', 'b'] });
  for (let step = 1; step <= steps; step++) {
    if (stopRequested.has(runId)) {
      post({ type: 'done', runId, summary: { status: 'stopped', step: step - 1 } });
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
    post({ type: 'metrics', runId, record: metrics(step, seen * step) });
    if (throwAt === step) {
      // Thrown from a timer, not the async function: an uncaught error, as a real bug would be.
      setTimeout(() => {
        throw new Error(`fake worker threw at step ${step}`);
      }, 0);
      return;
    }
  }
  post({ type: 'done', runId, summary: { status: 'finished', step: steps, loss: 1 / steps } });
}

function metrics(step: number, seen: number): MetricsRecord {
  return {
    type: 'metrics', step, loss: 1 / step, gradNorm: 1, gradNormClipped: 1, clipped: false,
    clipFraction: 0, lr: 0.01, seen, charsPerSec: 1000, elapsedMs: step * 5, sigma1: { "0.hh": 1 }, paramGradNorms: {},
  };
}
