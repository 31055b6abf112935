/**
 * Faults a run must survive, injected for real into the CLI (same engine, session and run
 * directory code as the workers): divergence, SIGKILL while checkpoints are written, and a long
 * run's memory. The in-host faults (worker crash, many workers) are in
 * test/integration/suite/faults.test.ts. Prints the figures: faults injected / survived, memory.
 */
import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCheckpoint } from '../../src/engine/checkpoint';
import { decodeSafetensors } from '../../src/engine/safetensors';
import { Rng } from '../../src/engine/random';
import type { MetricsRecord, RunSummary } from '../../src/protocol/config';

const root = join(__dirname, '../..');
const cli = join(root, 'dist/cli.js');
const text = 'It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of a wife. '.repeat(60);
const tally = { injected: 0, survived: 0 };

function workdir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'rnn-lab-faults-'));
  writeFileSync(join(dir, 'p.txt'), text);
  return dir;
}

/** Every line of a JSONL file parses (a half-written last line would not). */
function readRecords<T>(path: string): T[] {
  const raw = readFileSync(path, 'utf8');
  assert.ok(raw === '' || raw.endsWith('\n'), `${path} ends in a partial line`);
  return raw.split('\n').filter((l) => l !== '').map((l, i) => {
    try {
      return JSON.parse(l) as T;
    } catch {
      throw new Error(`${path} line ${i + 1} is not JSON: ${l.slice(0, 80)}`);
    }
  });
}

describe('faults survived (CLI, Node)', function () {
  this.timeout(240_000);
  const dirs: string[] = [];
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
    console.log(`\n  faults (Node): ${tally.injected} injected, ${tally.survived} survived`);
  });

  it('a diverging run is marked "diverged at step N" with metrics and the last good checkpoint on disk; a new run starts at once', () => {
    const dir = workdir();
    dirs.push(dir);
    tally.injected++;
    // A ReLU RNN with Adam at lr 5 and no clipping: its activations grow without bound and overflow
    // to Infinity within a few steps (a tanh RNN cannot: its states saturate, and the loss is a
    // log-sum-exp that stays finite however confident and wrong the model is). Seeds are tried
    // until one diverges after a periodic checkpoint.
    const common = ['train', 'p.txt', '--cell', 'rnn', '--hidden', '16', '--batch', '2', '--steps', '300', '--clip-mode', 'none', '--diag-every', '0', '--checkpoint-every', '5'];
    const recipes: { args: string[]; seeds: number; minStep: number }[] = [
      { args: [...common, '--seq', '50', '--activation', 'relu', '--lr', '5'], seeds: 8, minStep: 6 },
    ];
    let n = 0;
    let run = '';
    let stdout = '';
    const tried: string[] = [];
    for (const [i, recipe] of recipes.entries()) {
      for (let seed = 1; seed <= recipe.seeds && n === 0; seed++) {
        run = join(dir, `diverging-${i}-${seed}`);
        const r = spawnSync(process.execPath, [cli, ...recipe.args, '--seed', String(seed), '--out', run], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
        const m = /diverged at step (\d+) \(loss /.exec(r.stdout);
        tried.push(`recipe ${i + 1} seed ${seed}: ${m ? `diverged at ${m[1]}` : `exit ${r.status}`}`);
        if (m) assert.equal(r.status, 2, `a diverged run exited ${r.status}`);
        else assert.equal(r.status, 0, r.stderr);
        if (m && Number(m[1]) >= recipe.minStep) (n = Number(m[1])), (stdout = r.stdout);
      }
    }
    assert.ok(n > 0, `no run diverged: ${tried.join('; ')}`);
    assert.match(stdout, new RegExp(`Metrics and the checkpoint of step ${n - 1} are saved`));
    const summary = JSON.parse(readFileSync(join(run, 'summary.json'), 'utf8')) as RunSummary;
    assert.equal(summary.status, 'diverged');
    assert.equal(summary.step, n - 1);
    assert.match(summary.message ?? '', new RegExp(`^diverged at step ${n} .*Lower the learning rate`));
    const metrics = readRecords<MetricsRecord>(join(run, 'metrics.jsonl'));
    assert.deepEqual(metrics.map((x) => x.step), Array.from({ length: n - 1 }, (_, i) => i + 1));
    assert.ok(metrics.every((x) => Number.isFinite(x.loss) && Number.isFinite(x.gradNorm)), 'a non-finite record was written');
    const bytes = readFileSync(join(run, 'checkpoint.safetensors'));
    assert.equal(decodeSafetensors(bytes).metadata.step, String(n - 1));
    const model = loadCheckpoint(bytes, 'checkpoint');
    assert.ok(model.net.params.data.every(Number.isFinite), 'the saved parameters are not finite');
    const again = spawnSync(process.execPath, [cli, 'train', 'p.txt', '--hidden', '8', '--seq', '8', '--batch', '2', '--steps', '5', '--out', 'next'], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stdout, /finished at step 5/);
    console.log(`      ${tried.join('; ')}`);
    console.log(`      diverged at step ${n}; ${metrics.length} finite metrics records and the step-${n - 1} checkpoint kept; the next run finished`);
    tally.survived++;
  });

  it('SIGKILL at random moments while checkpoints are written never leaves a bad checkpoint under the real name', async () => {
    const dir = workdir();
    dirs.push(dir);
    const rng = new Rng(31);
    const kills = 20;
    let midWrite = 0;
    let checked = 0;
    for (let k = 0; k < kills; k++) {
      tally.injected++;
      const out = join(dir, `run-${k}`);
      // 2 MiB checkpoints every step (identity init starts at once): most of the time goes to writing them.
      const child = spawn(process.execPath, [cli, 'train', 'p.txt', '--cell', 'rnn', '--init', 'identity', '--hidden', '512', '--seq', '2', '--batch', '1', '--steps', '100000', '--diag-every', '0', '--eval-every', '0', '--checkpoint-every', '1', '--out', out], { cwd: dir, stdio: 'ignore' });
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      const ckpt = join(out, 'checkpoint.safetensors');
      const deadline = Date.now() + 60_000;
      while (!existsSync(ckpt)) {
        assert.ok(Date.now() < deadline, 'no checkpoint appeared within 60 s');
        await new Promise((r) => setTimeout(r, 5));
      }
      if (k % 2 === 0) {
        // At a random moment.
        await new Promise((r) => setTimeout(r, Math.floor(rng.uniform() * 400)));
      } else {
        // The moment a checkpoint's temp file appears, i.e. while it is being written.
        const tmp = join(out, `checkpoint.safetensors.tmp`);
        await new Promise((r) => setTimeout(r, Math.floor(rng.uniform() * 100)));
        while (!existsSync(tmp) && Date.now() < deadline) await new Promise((r) => setImmediate(r));
      }
      child.kill('SIGKILL');
      await exited;
      const leftovers = readdirSync(out).filter((f) => f.includes('.tmp'));
      if (leftovers.length > 0) midWrite++;
      const bytes = readFileSync(ckpt);
      const model = loadCheckpoint(bytes, ckpt);
      assert.equal(model.config.hidden, 512);
      const step = Number(decodeSafetensors(bytes).metadata.step);
      const metrics = readRecords<MetricsRecord>(join(out, 'metrics.jsonl'));
      assert.ok(step >= 1 && step <= metrics.length, `checkpoint of step ${step}, ${metrics.length} metrics records`);
      assert.deepEqual(metrics.map((x) => x.step), Array.from({ length: metrics.length }, (_, i) => i + 1));
      checked++;
      tally.survived++;
    }
    console.log(`      ${kills} SIGKILLs (half at random moments, half as a checkpoint's temp file appeared): ${checked} checkpoints under the real name decoded; ${midWrite} kills landed mid-write (a .tmp file left beside it)`);
    assert.equal(checked, kills);
    assert.ok(midWrite >= 1, 'no kill landed while a checkpoint was being written: the test proved nothing');
  });

  it('a 100,000-step run keeps memory bounded; its metrics files grow linearly and nothing else does', () => {
    const dir = workdir();
    dirs.push(dir);
    tally.injected++;
    const sampler = join(root, 'test/support/memorySampler.cjs');
    const run = (steps: number) => {
      const memFile = join(dir, `mem-${steps}.json`);
      const out = join(dir, `long-${steps}`);
      const r = spawnSync(process.execPath, ['--require', sampler, cli, 'train', 'p.txt', '--cell', 'rnn', '--hidden', '4', '--seq', '4', '--batch', '1', '--steps', String(steps), '--out', out], {
        cwd: dir,
        encoding: 'utf8',
        timeout: 200_000,
        maxBuffer: 64 << 20,
        env: { ...process.env, RNN_LAB_MEMORY_FILE: memFile },
      });
      assert.equal(r.status, 0, r.stderr);
      const mem = JSON.parse(readFileSync(memFile, 'utf8')) as { maxRssKiB: number; peakHeapUsed: number; samples: number };
      const sizes = Object.fromEntries(readdirSync(out).map((f) => [f, statSync(join(out, f)).size]));
      return { rssMiB: mem.maxRssKiB / 1024, heapMiB: mem.peakHeapUsed / (1 << 20), samples: mem.samples, sizes };
    };
    const short = run(10_000);
    const long = run(100_000);
    const ratio = (f: string) => long.sizes[f] / short.sizes[f];
    console.log(`      peak RSS ${short.rssMiB.toFixed(1)} MiB at 10k steps, ${long.rssMiB.toFixed(1)} MiB at 100k; peak heap ${short.heapMiB.toFixed(1)} / ${long.heapMiB.toFixed(1)} MiB (${long.samples} samples)`);
    console.log(`      metrics.jsonl ${(short.sizes['metrics.jsonl'] / 1e6).toFixed(1)} MB -> ${(long.sizes['metrics.jsonl'] / 1e6).toFixed(1)} MB (x${ratio('metrics.jsonl').toFixed(2)}), diagnostics.jsonl x${ratio('diagnostics.jsonl').toFixed(2)}, checkpoint x${ratio('checkpoint.safetensors').toFixed(2)}`);
    assert.ok(long.samples >= 10, 'the memory sampler did not run during the long run');
    assert.ok(long.rssMiB < short.rssMiB + 40, `peak RSS grew from ${short.rssMiB.toFixed(0)} to ${long.rssMiB.toFixed(0)} MiB`);
    assert.ok(long.heapMiB < short.heapMiB + 20, `peak heap grew from ${short.heapMiB.toFixed(0)} to ${long.heapMiB.toFixed(0)} MiB`);
    for (const f of ['metrics.jsonl', 'diagnostics.jsonl']) assert.ok(ratio(f) > 9.5 && ratio(f) < 11.5, `${f} grew x${ratio(f).toFixed(2)} for 10x the steps`);
    assert.equal(long.sizes['checkpoint.safetensors'], short.sizes['checkpoint.safetensors']);
    assert.deepEqual(Object.keys(long.sizes).sort(), Object.keys(short.sizes).sort(), 'the long run wrote other files');
    tally.survived++;
  });
});
