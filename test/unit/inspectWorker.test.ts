import * as assert from 'node:assert/strict';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { FromInspectWorker, ToInspectWorker } from '../../src/protocol/inspectWorker';
import { DEFAULT_CONFIG } from '../../src/engine/config';
import { datasetFor, checkpointBytes } from '../../src/engine/session';
import { Trainer } from '../../src/engine/trainer';
import { loadCheckpoint } from '../../src/engine/checkpoint';
import { gateSummary, influenceOn, inspectText } from '../../src/engine/inspect';

// The real worker_threads entry of run on selection (dist/inspect-worker.js, built by esbuild.mjs).
const workerPath = join(__dirname, '../../dist/inspect-worker.js');

describe('inspect worker (worker_threads)', () => {
  it('inspects, computes influence and samples with a checkpoint sent once; results equal the engine on the host', async () => {
    const config = { ...DEFAULT_CONFIG, name: 'iw', cell: 'gru' as const, hidden: 12, seqLength: 10, batch: 2, steps: 5 };
    const trainer = new Trainer(config, datasetFor(config, 'to be or not to be, that is the question. '.repeat(20)));
    for (let i = 0; i < 5; i++) trainer.trainStep();
    const bytes = checkpointBytes(trainer);
    const worker = new Worker(workerPath);
    const replies = new Map<number, FromInspectWorker>();
    const waiting = new Map<number, () => void>();
    worker.on('message', (m: FromInspectWorker) => {
      replies.set(m.id, m);
      waiting.get(m.id)?.();
    });
    const ask = (msg: ToInspectWorker) =>
      new Promise<FromInspectWorker>((resolve) => {
        waiting.set(msg.id, () => resolve(replies.get(msg.id)!));
        worker.postMessage(msg);
      });
    try {
      const text = 'the question: to be?';
      const missing = await ask({ type: 'inspectText', id: 1, modelKey: 'a', text, context: '' });
      assert.ok(missing.type === 'error' && missing.needModel, 'a request for a model the worker does not hold must ask for it');
      const r = await ask({ type: 'inspectText', id: 2, modelKey: 'a', checkpoint: bytes, text, context: 'be, ' });
      assert.equal(r.type, 'inspected');
      const local = loadCheckpoint(bytes, 'ckpt');
      const expected = inspectText(local.net, local.vocab!, text, { context: 'be, ' });
      const got = (r as Extract<FromInspectWorker, { type: 'inspected' }>).result;
      assert.ok(got.kind === 'text');
      assert.deepEqual(got.chars, expected.chars);
      assert.deepEqual(Array.from(got.h[0]), Array.from(expected.h[0]));
      // Gates travel as their per-character summary.
      const summaries = got.chars.map((_, i) => gateSummary(expected, i));
      assert.ok(got.gates.every((a) => a.length === 0));
      got.chars.forEach((_, i) => assert.deepEqual(gateSummary(got, i), summaries[i]));
      assert.deepEqual(got.chars.filter((c) => !c.known).map((c) => c.char), [':', '?']);
      // Without the checkpoint now: the worker holds model 'a'.
      const inf = await ask({ type: 'influence', id: 3, modelKey: 'a', tokens: got.tokens, steps: Int32Array.from(got.chars, (c) => c.step), target: 15 });
      assert.equal(inf.type, 'influence');
      assert.deepEqual(Array.from((inf as Extract<FromInspectWorker, { type: 'influence' }>).values), Array.from(influenceOn(local.net, expected, 15)));
      const s = await ask({ type: 'sample', id: 4, modelKey: 'a', prime: 'to be', length: 25, temperature: 0.7, topK: 3, seed: 9 });
      assert.ok(s.type === 'sampled' && Array.from(s.text).length === 25);
      const bad = await ask({ type: 'inspectText', id: 5, modelKey: 'b', checkpoint: new Uint8Array([1, 2, 3]), text, context: '' });
      assert.ok(bad.type === 'error' && /safetensors|header|checkpoint/i.test(bad.message), JSON.stringify(bad));
    } finally {
      await worker.terminate();
    }
  });
});
