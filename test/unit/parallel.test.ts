import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateConfig } from '../../src/engine/config';
import { Network } from '../../src/engine/network';
import { restoreTrainer } from '../../src/engine/resume';
import { generationOf, runSession } from '../../src/engine/session';
import { combineFlow, combineSaturation, gatherRows, shardGradient, shardRows, sumInOrder, workerCount, type ParallelHost } from '../../src/engine/shard';
import type { FromWorker } from '../../src/protocol/trainingWorker';
import { nodeParallelHost } from '../../src/worker/nodeParallel';
import { config, maxRel, text, trainer } from './parallelFixture';

const repoRoot = join(__dirname, '../..');
const host: ParallelHost = nodeParallelHost(join(repoRoot, 'dist/shard-worker.js'));

describe('data parallelism: the shard and reduce math', () => {
  it('shardRows splits B rows into K contiguous shares, the first B mod K one row longer', () => {
    assert.deepEqual(shardRows(7, 3), [{ start: 0, end: 3 }, { start: 3, end: 5 }, { start: 5, end: 7 }]);
    assert.deepEqual(shardRows(4, 4), [0, 1, 2, 3].map((k) => ({ start: k, end: k + 1 })));
    assert.deepEqual(shardRows(5, 1), [{ start: 0, end: 5 }]);
    assert.throws(() => shardRows(3, 4), /cannot split 3 rows over 4 workers/);
    assert.throws(() => shardRows(3, 0), RangeError);
  });

  it('workerCount: 0 means the cores minus one (at least one); any count is capped at the batch', () => {
    assert.equal(workerCount(0, 32, 2), 1);
    assert.equal(workerCount(0, 32, 8), 7);
    assert.equal(workerCount(0, 3, 8), 3);
    assert.equal(workerCount(0, 32, 1), 1);
    assert.equal(workerCount(5, 32, 2), 5);
    assert.equal(workerCount(5, 2, 16), 2);
  });

  it('gatherRows takes rows [start, end) of every time step of a (T,B,width) array', () => {
    // T=2, B=3, width=2: value = 100 t + 10 b + k
    const src = Float64Array.from({ length: 12 }, (_, i) => 100 * Math.floor(i / 6) + 10 * Math.floor((i % 6) / 2) + (i % 2));
    const dst = new Float64Array(8);
    gatherRows(src, 2, 3, 2, { start: 1, end: 3 }, dst);
    assert.deepEqual(Array.from(dst), [10, 11, 20, 21, 110, 111, 120, 121]);
    const tok = new Int32Array([0, 1, 2, 3, 4, 5]);
    const one = new Int32Array(2);
    gatherRows(tok, 2, 3, 1, { start: 2, end: 3 }, one);
    assert.deepEqual(Array.from(one), [2, 5]);
  });

  it('sumInOrder adds the parts in the order given: in float32, (1e8 + 1) - 1e8 is 0 and (1e8 - 1e8) + 1 is 1', () => {
    const f = (x: number) => new Float32Array([x]);
    const out = new Float32Array(1);
    sumInOrder([f(1e8), f(1), f(-1e8)], out);
    assert.equal(out[0], 0);
    sumInOrder([f(1e8), f(-1e8), f(1)], out);
    assert.equal(out[0], 1);
  });

  it('combineSaturation weights each worker by its rows; combineFlow is the root of the summed squares', () => {
    const e = (unitLeft: number[], unitRight: number[]) => ({ layer: 0, gate: 'i', left: 0, right: 0, unitLeft, unitRight });
    const [s] = combineSaturation([[e([1, 0], [0, 0.5])], [e([0, 0], [1, 0.5])]], [3, 1]);
    assert.deepEqual(s.unitLeft, [0.75, 0]);
    assert.deepEqual(s.unitRight, [0.25, 0.5]);
    assert.equal(s.left, 0.375);
    assert.equal(s.right, 0.375);
    const [f] = combineFlow([[{ layer: 0, h: [3, 0], c: [1, 1] }], [{ layer: 0, h: [4, 2], c: [0, 1] }]]);
    assert.deepEqual(f.h, [5, 2]);
    assert.deepEqual(f.c, [1, Math.SQRT2]);
  });

  it('the shard gradients of a split batch add up to the whole batch gradient (float64, 1e-14 relative)', () => {
    const c = config({ precision: 'float64', cell: 'gru' });
    const whole = trainer(c);
    whole.trainStep();
    const net = whole.net;
    const T = c.seqLength;
    const B = c.batch;
    const input = Int32Array.from({ length: T * B }, (_, i) => (i * 7) % 20);
    const target = Int32Array.from({ length: T * B }, (_, i) => (i * 5 + 3) % 20);
    const state = net.newState(B);
    state.h.forEach((h) => h.fill(0.1));
    const full = shardGradient(net, { batch: B, h: state.h.map((h) => h.slice()), c: [] as Float64Array[] }, input, target, T, B, true);
    const wholeGrad = net.params.grad.slice();
    const sums = new Float64Array(net.params.size);
    let loss = 0;
    const replica = new Network(net.spec, 'float64');
    replica.params.data.set(net.params.data);
    const parts = shardRows(B, 3).map((rows) => {
      const n = rows.end - rows.start;
      const i = new Int32Array(T * n);
      const t = new Int32Array(T * n);
      gatherRows(input, T, B, 1, rows, i);
      gatherRows(target, T, B, 1, rows, t);
      const st = { batch: n, h: state.h.map((h) => h.slice(rows.start * c.hidden, rows.end * c.hidden)), c: [] as Float64Array[] };
      const r = shardGradient(replica, st, i, t, T, B, true);
      for (let j = 0; j < sums.length; j++) sums[j] += replica.params.grad[j];
      loss += r.loss;
      return { r, n };
    });
    assert.ok(maxRel(sums, wholeGrad) < 1e-14, `gradient ${maxRel(sums, wholeGrad)}`);
    assert.ok(Math.abs(loss - full.loss) / full.loss < 1e-14);
    const sat = combineSaturation(parts.map((p) => p.r.saturation), parts.map((p) => p.n));
    for (const [k, s] of sat.entries()) assert.ok(maxRel(s.unitLeft, full.saturation[k].unitLeft) < 1e-14 || s.left === 0);
    const flow = combineFlow(parts.map((p) => p.r.flow));
    for (const [l, f] of flow.entries()) assert.ok(maxRel(f.h, full.flow[l].h) < 1e-12, `flow ${maxRel(f.h, full.flow[l].h)}`);
  });
});

describe('data parallelism: K gradient workers (worker_threads, shared memory)', function () {
  this.timeout(120_000);

  it('float64, K=3: 20 steps agree with K=1 to 1e-12 relative (losses, gradient norms, parameters, diagnostics)', () => {
    const c = config({ precision: 'float64', workers: 3 });
    const one = trainer({ ...c, workers: 1 }, host);
    const three = trainer(c, host);
    try {
      assert.equal(one.workers, 1);
      assert.equal(three.workers, 3);
      assert.equal(three.transport, 'shared-memory');
      let worst = 0;
      for (let i = 0; i < 20; i++) {
        const a = one.trainStep(i % 5 === 0);
        const b = three.trainStep(i % 5 === 0);
        worst = Math.max(worst, Math.abs(a.loss - b.loss) / a.loss, Math.abs(a.clip.norm - b.clip.norm) / a.clip.norm);
        if (a.diagnostics) {
          for (const [l, f] of a.diagnostics.flow.entries()) worst = Math.max(worst, maxRel(b.diagnostics!.flow[l].h, f.h));
          for (const [k, s] of a.diagnostics.saturation.entries()) assert.ok(Math.abs(b.diagnostics!.saturation[k].left - s.left) < 1e-12);
        }
      }
      worst = Math.max(worst, maxRel(three.net.params.data, one.net.params.data));
      assert.ok(worst < 1e-12, `worst relative difference ${worst}`);
      assert.notDeepEqual(three.net.params.data, one.net.params.data, 'K=3 groups the sums differently: not the same bits as K=1');
    } finally {
      one.close();
      three.close();
    }
  });

  it('float32, K=2: the same bits twice, and within float32 rounding of K=1 after 20 steps', () => {
    const c = config({ workers: 2 });
    const runs = [trainer(c, host), trainer(c, host), trainer({ ...c, workers: 1 }, host)];
    try {
      assert.equal(runs[0].path, 'wasm-simd-f32');
      for (let i = 0; i < 20; i++) for (const t of runs) t.trainStep(i % 5 === 0);
      assert.deepEqual(runs[0].net.params.data, runs[1].net.params.data);
      assert.deepEqual(runs[0].optimizer.m, runs[1].optimizer.m);
      const rel = maxRel(runs[0].net.params.data, runs[2].net.params.data);
      assert.ok(rel > 0 && rel < 1e-4, `K=2 vs K=1 parameters after 20 float32 steps: ${rel}`);
    } finally {
      for (const t of runs) t.close();
    }
  });

  it('exact resume with K=2 (dropout on): a generation of step 6 continues to step 14 with the bits of an uninterrupted K=2 run', () => {
    const c = config({ workers: 2, cell: 'gru', dropout: 0.1 });
    const straight = trainer(c, host);
    const first = trainer(c, host);
    const resumed = trainer(c, host);
    try {
      for (let i = 0; i < 6; i++) {
        straight.trainStep();
        first.trainStep();
      }
      restoreTrainer(resumed, undefined, generationOf(first, 'fp').state, 'fp', 'run');
      for (let i = 0; i < 8; i++) assert.equal(resumed.trainStep(i === 3).loss, straight.trainStep(i === 3).loss);
      assert.deepEqual(resumed.net.params.data, straight.net.params.data);
      assert.deepEqual(resumed.state.h, straight.state.h);
    } finally {
      for (const t of [straight, first, resumed]) t.close();
    }
  });

  it('dropout: K=3 draws the masks one forward over the whole batch would, so it agrees with K=1 to 1e-12 (float64) and leaves the generator in the same state', () => {
    const c = config({ precision: 'float64', workers: 3, dropout: 0.3, layers: 3, cell: 'rnn' });
    const one = trainer({ ...c, workers: 1 }, host);
    const three = trainer(c, host);
    try {
      assert.equal(three.workers, 3);
      let worst = 0;
      for (let i = 0; i < 12; i++) {
        const a = one.trainStep();
        const b = three.trainStep();
        worst = Math.max(worst, Math.abs(a.loss - b.loss) / a.loss);
        assert.deepEqual(three.rng.getState(), one.rng.getState(), `generator after step ${i + 1}`);
      }
      worst = Math.max(worst, maxRel(three.net.params.data, one.net.params.data));
      assert.ok(worst < 1e-12, `worst relative difference ${worst}`);
    } finally {
      one.close();
      three.close();
    }
  });

  it('a gradient worker whose thread ends mid-run: the step fails within seconds saying so (no wait forever), and a session ends failed with its last completed step checkpointed', async () => {
    const ending = nodeParallelHost(join(repoRoot, 'test/fixtures/endingShardWorker.js'));
    const c = config({ precision: 'float64', workers: 2 });
    const t = trainer(c, ending);
    try {
      assert.equal(t.workers, 2);
      t.trainStep();
      t.trainStep();
      const params = Float64Array.from(t.net.params.data);
      const started = Date.now();
      assert.throws(() => t.trainStep(), /gradient worker 2 of 2 ended in the middle of a step .* Resume it to go on, with "workers": 1/);
      assert.ok(Date.now() - started < 10_000, `noticed after ${Date.now() - started} ms`);
      assert.equal(t.step, 2);
      assert.deepEqual(t.net.params.data, params, 'the failed step changed no parameter');
      assert.throws(() => t.trainStep(), /the gradient workers were stopped/);
    } finally {
      t.close();
    }
    const posts: FromWorker[] = [];
    const summary = await runSession({ runId: 'r', config: config({ steps: 10, workers: 2 }), dataText: text }, (m) => posts.push(m), () => false, { parallel: ending });
    assert.equal(summary.status, 'failed');
    assert.match(summary.message ?? '', /gradient worker 2 of 2 ended/);
    assert.equal(summary.step, 2);
    assert.equal(summary.checkpointStep, 2);
    assert.deepEqual(posts.filter((m) => m.type === 'metrics').map((m) => m.type === 'metrics' && m.record.step), [1, 2]);
    assert.ok(posts.some((m) => m.type === 'checkpoint' && m.step === 2));
  });

  it('a session records its workers and transport in started and the summary; a host without workers falls back to one, saying why', async () => {
    const posts: FromWorker[] = [];
    const summary = await runSession({ runId: 'r', config: config({ steps: 3, workers: 2 }), dataText: text }, (m) => posts.push(m), () => false, { parallel: host });
    assert.equal(summary.status, 'finished');
    assert.equal(summary.workers, 2);
    assert.equal(summary.transport, 'shared-memory');
    const started = posts.find((m) => m.type === 'started');
    assert.ok(started?.type === 'started' && started.workers === 2 && started.transport === 'shared-memory');
    const capped = await runSession({ runId: 'r', config: config({ steps: 2, workers: 9, batch: 2 }), dataText: text }, () => {}, () => false, { parallel: host });
    assert.equal(capped.workers, 2, 'capped at the batch');
    const web = await runSession({ runId: 'r', config: config({ steps: 2, workers: 2 }), dataText: text }, () => {}, () => false, { parallel: { cores: 4, reason: 'no shared memory here' } });
    assert.equal(web.workers, 1);
    assert.equal(web.workersNote, 'no shared memory here');
    assert.throws(() => validateConfig({ workers: -1 }), /"workers" must be between 0 and 256/);
    assert.throws(() => validateConfig({ workers: 1.5 }), /"workers" must be a whole number/);
  });
});

describe('data parallelism: rnn-lab train --workers', function () {
  this.timeout(240_000);
  const cli = join(repoRoot, 'dist/cli.js');
  const data = join(repoRoot, 'test/fixtures/workspace/tiny.txt');
  let dir: string;
  before(() => (dir = mkdtempSync(join(tmpdir(), 'rnn-parallel-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const train = (out: string, ...args: string[]) => {
    const r = spawnSync(process.execPath, [cli, 'train', ...args, '--out', join(dir, out), '--quiet', 'yes'], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.status, 0, r.stderr + r.stdout);
    return r.stdout;
  };
  const losses = (out: string) => readFileSync(join(dir, out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).loss as number);
  const ckpt = (out: string) => readFileSync(join(dir, out, 'checkpoint.safetensors'));
  const flags = [data, '--hidden', '24', '--batch', '6', '--seq', '10', '--steps', '20', '--precision', 'float64'];

  it('--workers 2 gives the same bits twice and agrees with --workers 1 to 1e-12 relative; a resumed K=2 run continues bit for bit', () => {
    assert.match(train('a', ...flags, '--workers', '2'), /js-f64 x 2 workers/);
    train('b', ...flags, '--workers', '2');
    train('one', ...flags, '--workers', '1');
    assert.deepEqual(ckpt('a'), ckpt('b'));
    assert.deepEqual(losses('a'), losses('b'));
    const [a, one] = [losses('a'), losses('one')];
    assert.equal(a.length, 20);
    for (let i = 0; i < 20; i++) assert.ok(Math.abs(a[i] - one[i]) / one[i] < 1e-12, `step ${i + 1}: ${a[i]} vs ${one[i]}`);
    assert.equal(JSON.parse(readFileSync(join(dir, 'a', 'summary.json'), 'utf8')).workers, 2);
    // Ten steps, then --resume to twenty: the checkpoint equals the uninterrupted run's.
    train('r', ...flags.slice(0, -4), '--steps', '10', '--precision', 'float64', '--workers', '2');
    const r = spawnSync(process.execPath, [cli, 'train', '--resume', join(dir, 'r'), '--steps', '20'], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.status, 0, r.stderr + r.stdout);
    assert.deepEqual(ckpt('r'), ckpt('a'));
    assert.deepEqual(losses('r'), a);
  });
});
