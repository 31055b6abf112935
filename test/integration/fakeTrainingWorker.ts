// A stand-in for the training worker that speaks the real protocol without the engine, so the
// integration suite can test TrainingSession's worker plumbing in the real extension host.
// config.steps metrics, 5 ms apart; config.name 'crash' throws inside the worker; a name
// 'throw-at-N' posts N metrics and then throws an uncaught error (a worker failing mid-run).
import type { FromWorker, MetricsRecord, ToWorker } from '../../src/protocol';

const scope = self as unknown as DedicatedWorkerGlobalScope;
const stopRequested = new Set<string>();

scope.onmessage = (event: MessageEvent<ToWorker>) => {
  const msg = event.data;
  if (msg.type === 'stop') {
    stopRequested.add(msg.runId);
    return;
  }
  if (msg.config.name === 'crash') throw new Error('fake worker crashed on purpose');
  const throwAt = /^throw-at-(\d+)$/.exec(msg.config.name);
  void run(msg.runId, msg.config.steps, msg.dataText.length, throwAt ? Number(throwAt[1]) : undefined);
};

async function run(runId: string, steps: number, seen: number, throwAt?: number): Promise<void> {
  const post = (m: FromWorker) => scope.postMessage(m);
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
