import * as assert from 'node:assert/strict';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { FromWorker, ToWorker } from '../../src/protocol/trainingWorker';
import { DEFAULT_CONFIG } from '../../src/engine/config';
import { TrainingHandler } from '../../src/worker/trainingHandler';

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

// The handler both entries share (src/worker/trainingHandler.ts), driven directly.
describe('training handler (both worker entries)', () => {
  const config = { ...DEFAULT_CONFIG, name: 'h', hidden: 8, seqLength: 8, batch: 2, steps: 6, diagEvery: 0, checkpointEvery: 3 };
  const drive = (msgs: ToWorker[]) => {
    const sent: { m: FromWorker; transfer: ArrayBuffer[] }[] = [];
    const handler = new TrainingHandler((m, transfer) => sent.push({ m, transfer }));
    for (const m of msgs) handler.handle(m);
    const dones = () => sent.filter((s) => s.m.type === 'done');
    return { handler, sent, dones, until: async (n: number) => { while (dones().length < n) await new Promise((r) => setTimeout(r, 5)); } };
  };

  it('transfers the checkpoint and resume buffers instead of copying them', async () => {
    const { sent, until } = drive([{ type: 'start', runId: 'h1', config, dataText: text, keepResumable: true }]);
    await until(1);
    const ckpts = sent.filter((s) => s.m.type === 'checkpoint');
    // Steps 3 and 6; the run ends at step 6, whose generation is not written twice.
    assert.deepEqual(ckpts.map((c) => c.m.type === 'checkpoint' && c.m.step), [3, 6]);
    for (const { m, transfer } of ckpts) {
      assert.ok(m.type === 'checkpoint' && m.resumeState);
      assert.deepEqual(transfer, [m.bytes.buffer, m.resumeState.buffer]);
    }
    assert.ok(sent.filter((s) => s.m.type !== 'checkpoint').every((s) => s.transfer.length === 0));
  });

  it('a second start while a run trains gets one failed done naming the run in progress; the first run is not disturbed', async () => {
    const { sent, dones, until } = drive([
      { type: 'start', runId: 'a', config, dataText: text },
      { type: 'start', runId: 'b', config, dataText: text },
    ]);
    await until(2);
    const [first, second] = [dones().find((s) => s.m.runId === 'b')!.m, dones().find((s) => s.m.runId === 'a')!.m];
    assert.ok(first.type === 'done' && first.summary.status === 'failed');
    assert.equal(first.summary.message, 'this worker is already training run a');
    assert.ok(second.type === 'done' && second.summary.status === 'finished' && second.summary.step === 6);
    assert.equal(dones().length, 2);
    assert.equal(sent.filter((s) => s.m.type === 'metrics').length, 6);
  });

  it('a stop for another run id is ignored; one for the run stops it between steps', async () => {
    const { handler, sent, dones, until } = drive([{ type: 'start', runId: 's', config: { ...config, steps: 1_000_000 }, dataText: text }]);
    const metrics = () => sent.filter((s) => s.m.type === 'metrics').length;
    while (metrics() < 2) await new Promise((r) => setTimeout(r, 5));
    handler.handle({ type: 'stop', runId: 'other' });
    const before = metrics();
    while (metrics() < before + 2) await new Promise((r) => setTimeout(r, 5));
    assert.equal(dones().length, 0, 'a stop for another run stopped this one');
    handler.handle({ type: 'stop', runId: 's' });
    await until(1);
    const d = dones()[0].m;
    assert.ok(d.type === 'done' && d.summary.status === 'stopped' && d.summary.step < 1_000_000);
  });
});
