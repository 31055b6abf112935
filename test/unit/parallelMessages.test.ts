import * as assert from 'node:assert/strict';
import { join } from 'node:path';
import { restoreTrainer } from '../../src/engine/resume';
import { generationOf, runSession } from '../../src/engine/session';
import type { ParallelHost } from '../../src/engine/shard';
import type { StepResult } from '../../src/engine/trainer';
import type { FromWorker } from '../../src/protocol/trainingWorker';
import { nodeMessageParallelHost, nodeParallelHost } from '../../src/worker/nodeParallel';
import { config, maxRel, text, trainer } from './parallelFixture';

const repoRoot = join(__dirname, '../..');
const shared: ParallelHost = nodeParallelHost(join(repoRoot, 'dist/shard-worker.js'));
const messages: ParallelHost = nodeMessageParallelHost(join(repoRoot, 'dist/shard-worker.js'));

/** What a step gives that must be the same bits across transports (the record's numbers and diagnostics). */
const bits = (r: StepResult) => ({ loss: r.loss, norm: r.clip.norm, norms: r.paramGradNorms, spectrum: r.spectrum, diagnostics: r.diagnostics });

describe('data parallelism: K gradient workers over message transfer (worker_threads, MessageChannel ports)', function () {
  this.timeout(120_000);

  for (const [K, over] of [
    [2, { cell: 'lstm', dropout: 0.1 }],
    [3, { cell: 'gru' }],
  ] as const) {
    it(`float64, K=${K} (${over.cell}${'dropout' in over ? ', dropout' : ''}): 15 steps give the bits of the shared-memory path with K=${K}, and agree with K=1 to 1e-12`, async () => {
      const c = config({ precision: 'float64', workers: K, ...over });
      const msg = trainer(c, messages);
      const mem = trainer(c, shared);
      const one = trainer({ ...c, workers: 1 });
      try {
        assert.equal(msg.workers, K);
        assert.equal(msg.transport, 'message');
        assert.equal(mem.transport, 'shared-memory');
        assert.ok(msg.asyncSteps);
        assert.throws(() => msg.trainStep(), /step asynchronously: use trainStepAsync/);
        let worst = 0;
        let diagnosed = 0;
        for (let i = 0; i < 15; i++) {
          const diagnose = i % 5 === 0;
          const a = await msg.trainStepAsync(diagnose, i === 0);
          const b = mem.trainStep(diagnose, i === 0);
          const o = one.trainStep(diagnose, i === 0);
          assert.deepEqual(bits(a), bits(b), `step ${i + 1}`);
          if (a.diagnostics) diagnosed++;
          assert.deepEqual(msg.rng.getState(), mem.rng.getState());
          worst = Math.max(worst, Math.abs(a.loss - o.loss) / o.loss);
        }
        assert.equal(diagnosed, 3);
        assert.deepEqual(msg.net.params.data, mem.net.params.data);
        assert.deepEqual(msg.state.h, mem.state.h);
        assert.deepEqual(msg.state.c, mem.state.c);
        assert.deepEqual(msg.optimizer.m, mem.optimizer.m);
        worst = Math.max(worst, maxRel(msg.net.params.data, one.net.params.data));
        assert.ok(worst < 1e-12, `worst relative difference from K=1: ${worst}`);
        assert.notDeepEqual(msg.net.params.data, one.net.params.data, `K=${K} groups the sums differently: not the same bits as K=1`);
      } finally {
        for (const t of [msg, mem, one]) t.close();
      }
    });
  }

  it('float32, K=2: the same bits twice, and the bits of the shared-memory path', async () => {
    const c = config({ workers: 2 });
    const runs = [trainer(c, messages), trainer(c, messages)];
    const mem = trainer(c, shared);
    try {
      assert.equal(runs[0].path, 'wasm-simd-f32');
      for (let i = 0; i < 20; i++) {
        for (const t of runs) await t.trainStepAsync(i % 5 === 0);
        mem.trainStep(i % 5 === 0);
      }
      assert.deepEqual(runs[0].net.params.data, runs[1].net.params.data);
      assert.deepEqual(runs[0].optimizer.m, runs[1].optimizer.m);
      assert.deepEqual(runs[0].net.params.data, mem.net.params.data);
      assert.deepEqual(runs[0].state.h, mem.state.h);
    } finally {
      for (const t of [...runs, mem]) t.close();
    }
  });

  it('exact resume with K=2 (dropout on): a generation of step 6 continues to step 14 with the bits of an uninterrupted run', async () => {
    const c = config({ workers: 2, cell: 'gru', dropout: 0.1 });
    const straight = trainer(c, messages);
    const first = trainer(c, messages);
    const resumed = trainer(c, messages);
    try {
      for (let i = 0; i < 6; i++) {
        await straight.trainStepAsync();
        await first.trainStepAsync();
      }
      restoreTrainer(resumed, undefined, generationOf(first, 'fp').state, 'fp', 'run');
      for (let i = 0; i < 8; i++) assert.equal((await resumed.trainStepAsync(i === 3)).loss, (await straight.trainStepAsync(i === 3)).loss);
      assert.deepEqual(resumed.net.params.data, straight.net.params.data);
      assert.deepEqual(resumed.state.h, straight.state.h);
    } finally {
      for (const t of [straight, first, resumed]) t.close();
    }
  });

  it('a session over messages records transport "message" and posts the losses of the shared-memory session', async () => {
    const losses = async (parallel: ParallelHost) => {
      const posts: FromWorker[] = [];
      const summary = await runSession({ runId: 'r', config: config({ steps: 12, workers: 2, precision: 'float64' }), dataText: text }, (m) => posts.push(m), () => false, { parallel });
      return { summary, posts, losses: posts.flatMap((m) => (m.type === 'metrics' ? [m.record.loss] : [])) };
    };
    const m = await losses(messages);
    const s = await losses(shared);
    assert.equal(m.summary.status, 'finished', m.summary.message);
    assert.equal(m.summary.workers, 2);
    assert.equal(m.summary.transport, 'message');
    const started = m.posts.find((p) => p.type === 'started');
    assert.ok(started?.type === 'started' && started.transport === 'message' && started.workers === 2);
    assert.equal(m.losses.length, 12);
    assert.deepEqual(m.losses, s.losses);
  });

  it('a gradient worker whose thread ends mid-step: the step fails saying so (no wait forever), and a session ends failed with its last completed step checkpointed', async () => {
    const ending = nodeMessageParallelHost(join(repoRoot, 'test/fixtures/endingMessageShardWorker.js'));
    const c = config({ precision: 'float64', workers: 2 });
    const t = trainer(c, ending);
    try {
      assert.equal(t.workers, 2);
      await t.trainStepAsync();
      await t.trainStepAsync();
      const params = Float64Array.from(t.net.params.data);
      const started = Date.now();
      await assert.rejects(t.trainStepAsync(), /gradient worker 2 of 2 ended in the middle of a step \(its thread exited with code 9\).* Resume it to go on, with "workers": 1/);
      assert.ok(Date.now() - started < 10_000, `noticed after ${Date.now() - started} ms`);
      assert.equal(t.step, 2);
      assert.deepEqual(t.net.params.data, params, 'the failed step changed no parameter');
      await assert.rejects(t.trainStepAsync(), /gradient worker 2 of 2 ended/);
    } finally {
      t.close();
    }
    const posts: FromWorker[] = [];
    const summary = await runSession({ runId: 'r', config: config({ steps: 10, workers: 2 }), dataText: text }, (m) => posts.push(m), () => false, { parallel: ending });
    assert.equal(summary.status, 'failed');
    assert.match(summary.message ?? '', /gradient worker 2 of 2 ended in the middle of a step/);
    assert.equal(summary.step, 2);
    assert.equal(summary.checkpointStep, 2);
    assert.deepEqual(posts.filter((m) => m.type === 'metrics').map((m) => m.type === 'metrics' && m.record.step), [1, 2]);
  });
});
