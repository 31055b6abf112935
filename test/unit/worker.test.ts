import * as assert from 'node:assert/strict';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { FromWorker, ToWorker } from '../../src/protocol/trainingWorker';
import { DEFAULT_CONFIG } from '../../src/engine/config';

// The real worker_threads entry (dist/worker.js, built by esbuild.mjs), training a tiny model.
const workerPath = join(__dirname, '../../dist/worker.js');
const text = 'to be or not to be, that is the question. '.repeat(30);

function start(steps: number): { worker: Worker; messages: FromWorker[]; done: Promise<FromWorker & { type: 'done' }> } {
  const worker = new Worker(workerPath);
  const messages: FromWorker[] = [];
  const done = new Promise<FromWorker & { type: 'done' }>((resolve, reject) => {
    worker.on('message', (m: FromWorker) => {
      messages.push(m);
      if (m.type === 'done') resolve(m);
    });
    worker.on('error', reject);
  });
  const msg: ToWorker = { type: 'start', runId: 'w1', config: { ...DEFAULT_CONFIG, name: 'w', hidden: 12, seqLength: 10, batch: 2, steps, diagEvery: 5 }, dataText: text };
  worker.postMessage(msg);
  return { worker, messages, done };
}

describe('worker_threads training worker', () => {
  it('trains a tiny model to the end and reports metrics, diagnostics, a checkpoint and one done', async () => {
    const { worker, messages, done } = start(30);
    const d = await done;
    await worker.terminate();
    assert.equal(d.summary.status, 'finished');
    assert.equal(d.summary.step, 30);
    const losses = messages.flatMap((m) => (m.type === 'metrics' ? [m.record.loss] : []));
    assert.equal(losses.length, 30);
    assert.ok(losses[29] < losses[0]);
    assert.ok(messages.filter((m) => m.type === 'diagnostics').length >= 6);
    const ckpt = messages.find((m) => m.type === 'checkpoint');
    assert.ok(ckpt && ckpt.type === 'checkpoint' && ckpt.bytes.length > 1000);
  });
  it('stops between steps when asked', async () => {
    const { worker, messages, done } = start(1_000_000);
    while (!messages.some((m) => m.type === 'metrics')) await new Promise((r) => setTimeout(r, 10));
    worker.postMessage({ type: 'stop', runId: 'w1' } satisfies ToWorker);
    const d = await done;
    await worker.terminate();
    assert.equal(d.summary.status, 'stopped');
    assert.ok(d.summary.step < 1_000_000);
  });
  it('a bad config ends in one failed done, not a crash', async () => {
    const worker = new Worker(workerPath);
    const d = await new Promise<FromWorker>((resolve) => {
      worker.on('message', (m: FromWorker) => m.type === 'done' && resolve(m));
      worker.postMessage({ type: 'start', runId: 'w2', config: { ...DEFAULT_CONFIG, hidden: -1 }, dataText: text } satisfies ToWorker);
    });
    await worker.terminate();
    assert.ok(d.type === 'done' && d.summary.status === 'failed');
    assert.match(d.type === 'done' ? d.summary.message ?? '' : '', /"hidden" must be between/);
  });
});
