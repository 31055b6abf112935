/**
 * Faults a run must survive, injected for real into the CLI (same engine, session and run
 * directory code as the workers): divergence, SIGKILL while checkpoints are written, and a long
 * run's memory. The in-host faults (worker crash, many workers) are in
 * test/integration/suite/faults.test.ts. Prints the figures: faults injected / survived, memory.
 */
import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCheckpoint } from '../../src/engine/checkpoint';
import { decodeSafetensors } from '../../src/engine/safetensors';
import { Rng } from '../../src/engine/random';
import type { MetricsRecord, RunConfig, RunSummary } from '../../src/protocol/config';

const root = join(__dirname, '../..');
const cli = join(root, 'dist/cli.js');
const text = 'It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of a wife. '.repeat(60);
const tally = { injected: 0, survived: 0 };

function workdir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'rnn-lab-faults-'));
  writeFileSync(join(dir, 'p.txt'), text);
  return dir;
}

/** The lines of a JSONL file: every one but a torn last one (no newline) must parse. */
function readJsonlLines(path: string): { records: unknown[]; torn: boolean } {
  const raw = existsSync(path) ? readFileSync(path, 'utf8') : '';
  const lines = raw.split('\n');
  const torn = !raw.endsWith('\n') && raw !== '';
  const records = lines.slice(0, torn ? -1 : undefined).filter((l) => l !== '').map((l, i) => {
    try {
      return JSON.parse(l) as unknown;
    } catch {
      throw new Error(`${path} line ${i + 1} is not JSON: ${l.slice(0, 80)}`);
    }
  });
  return { records, torn };
}

/** What a finished run leaves, to compare bit for bit: its metrics (without timings), checkpoint and resume state. */
function runFiles(dir: string) {
  const metrics = readRecords<MetricsRecord>(join(dir, 'metrics.jsonl')).map(({ elapsedMs: _e, charsPerSec: _c, ...m }) => m);
  return { metrics, checkpoint: readFileSync(join(dir, 'checkpoint.safetensors')), state: readFileSync(join(dir, 'resume.safetensors')) };
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
    // float64: in float32 the activations overflow (3.4e38) at step 2, before the first checkpoint.
    const common = ['train', 'p.txt', '--cell', 'rnn', '--hidden', '16', '--batch', '2', '--steps', '300', '--clip-mode', 'none', '--diag-every', '0', '--checkpoint-every', '5', '--precision', 'float64'];
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

  it('kill loop: SIGKILL at seeded random moments, inside checkpoint writes too; every run resumes, bit for bit', async function () {
    // 65 processes, most of them waiting for their moment: minutes of wall time on a loaded machine, ~25 s of CPU.
    this.timeout(900_000);
    const dir = workdir();
    dirs.push(dir);
    const rng = new Rng(17);
    const steps = 80;
    // A tiny model with a checkpoint generation every step: most of a run's time is spent writing them.
    const args = ['train', 'p.txt', '--cell', 'lstm', '--hidden', '8', '--seq', '8', '--batch', '2', '--dropout', '0.1', '--steps', String(steps), '--diag-every', '0', '--eval-every', '20', '--checkpoint-every', '1'];
    /** Starts a run; resolves once its folder exists, with how long it had lived and its exit. */
    const start = async (out: string, env: NodeJS.ProcessEnv) => {
      const child = spawn(process.execPath, [cli, ...args, '--out', out], { cwd: dir, stdio: 'ignore', env });
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      const deadline = Date.now() + 60_000;
      while (!existsSync(join(out, 'config.json')) && child.exitCode === null) {
        assert.ok(Date.now() < deadline, 'the run folder did not appear within 60 s');
        await new Promise((r) => setTimeout(r, 2));
      }
      return { child, exited, since: Date.now() };
    };
    const straight = await start(join(dir, 'straight'), process.env);
    assert.equal(await straight.exited, 0);
    // How long a run trains once its folder exists: kills fall inside that span.
    const span = Date.now() - straight.since;
    const reference = runFiles(join(dir, 'straight'));
    const kills = 32;
    const seen = { resumable: 0, exact: 0, midWrite: 0, betweenRenames: 0, beforeFirst: 0, torn: 0, finishedFirst: 0 };
    for (let k = 0; k < kills; k++) {
      tally.injected++;
      const out = join(dir, `run-${k}`);
      // Four kinds, in turn: at a random moment (every eighth kill at once, most likely before the
      // first checkpoint); at a random moment with a 2 ms pause at each stage of a generation's
      // write (RNN_LAB_TEST_GENERATION_PAUSE_MS), so it often lands inside one; and, with 15 ms
      // pauses, after a random share of the run at the first moment the folder shows a generation written but
      // not committed (resume.safetensors.tmp), or committed but not complete (only
      // checkpoint.safetensors.tmp left): the kill lands there whatever the machine's speed.
      const kind = k % 4;
      const pause = kind === 0 ? {} : { RNN_LAB_TEST_GENERATION_PAUSE_MS: kind === 1 ? '2' : '15' };
      const run = await start(out, { ...process.env, ...pause });
      if (kind < 2) await new Promise((r) => setTimeout(r, k % 8 === 0 ? 0 : Math.floor(rng.uniform() * span * 0.6)));
      else {
        // After a random share (up to half) of the run's records, at the next such moment.
        const bytes = Math.floor(rng.uniform() * 0.5 * statSync(join(dir, 'straight', 'metrics.jsonl')).size);
        const metrics = join(out, 'metrics.jsonl');
        while (run.child.exitCode === null && !(existsSync(metrics) && statSync(metrics).size >= bytes)) await new Promise((r) => setTimeout(r, 2));
        const want = (names: string[]) => (kind === 2 ? names.includes('resume.safetensors.tmp') : names.includes('checkpoint.safetensors.tmp') && !names.includes('resume.safetensors.tmp'));
        while (run.child.exitCode === null && !want(readdirSync(out))) await new Promise((r) => setTimeout(r, 1));
      }
      run.child.kill('SIGKILL');
      const code = await run.exited;
      if (code === 0) seen.finishedFirst++;
      const names = readdirSync(out);
      if (names.some((f) => f.includes('.tmp'))) seen.midWrite++;
      if (!names.includes('resume.safetensors')) seen.beforeFirst++;
      else if (!names.includes('checkpoint.safetensors') || decodeSafetensors(readFileSync(join(out, 'checkpoint.safetensors'))).metadata.step !== decodeSafetensors(readFileSync(join(out, 'resume.safetensors'))).metadata.step) seen.betweenRenames++;
      if (readJsonlLines(join(out, 'metrics.jsonl')).torn) seen.torn++;
      const resumed = spawnSync(process.execPath, [cli, 'train', '--resume', out], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
      if (code === 0) {
        assert.match(resumed.stderr, new RegExp(`is already at step ${steps} of ${steps}`));
      } else {
        assert.equal(resumed.status, 0, `kill ${k}: ${resumed.stderr}`);
      }
      assert.deepEqual(readdirSync(out).filter((f) => f.includes('.tmp')), [], 'temp files left after the resume');
      seen.resumable++;
      const got = runFiles(out);
      assert.deepEqual(got.metrics.map((m) => m.step), Array.from({ length: steps }, (_, i) => i + 1), `kill ${k}: the metrics do not read as one run`);
      if (JSON.stringify(got.metrics) === JSON.stringify(reference.metrics) && got.checkpoint.equals(reference.checkpoint) && got.state.equals(reference.state)) seen.exact++;
      tally.survived++;
    }
    console.log(`      kill loop: ${kills} kills, ${seen.resumable} resumable, ${seen.exact} bit-exact (${seen.midWrite} inside a generation's write, ${seen.betweenRenames} between its two renames, ${seen.beforeFirst} before the first checkpoint, ${seen.torn} with a torn last JSONL line, ${seen.finishedFirst} finished before the kill)`);
    assert.equal(seen.resumable, kills);
    assert.equal(seen.exact, kills);
    assert.ok(seen.midWrite >= 16 && seen.betweenRenames >= 8, 'too few kills landed inside a generation write: the loop proved little');
  });

  it('SIGINT, SIGTERM and SIGHUP: a last checkpoint at the step reached and the summary, exit 130, 143, 129; the run resumes', async () => {
    const dir = workdir();
    dirs.push(dir);
    const results: string[] = [];
    for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]] as const) {
      tally.injected++;
      const out = join(dir, signal);
      // No periodic checkpoint falls in this run (30 s, no --checkpoint-every): the signal's is the only one.
      const child = spawn(process.execPath, [cli, 'train', 'p.txt', '--hidden', '8', '--seq', '8', '--batch', '2', '--steps', '1000000', '--diag-every', '0', '--out', out], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      child.stdout.on('data', (d) => (stdout += d));
      const exited = new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
      const metrics = join(out, 'metrics.jsonl');
      while (!existsSync(metrics) || readFileSync(metrics, 'utf8').split('\n').length < 6) await new Promise((r) => setTimeout(r, 10));
      child.kill(signal);
      assert.equal(await exited, code, stdout);
      const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as RunSummary;
      assert.equal(summary.status, 'stopped');
      const records = readRecords<MetricsRecord>(metrics);
      assert.equal(records.at(-1)!.step, summary.step);
      assert.equal(decodeSafetensors(readFileSync(join(out, 'checkpoint.safetensors'))).metadata.step, String(summary.step));
      assert.equal(decodeSafetensors(readFileSync(join(out, 'resume.safetensors'))).metadata.step, String(summary.step));
      assert.match(stdout, new RegExp(`${signal}: the checkpoint of step ${summary.step} is saved; rnn-lab train --resume .* continues it`));
      const resumed = spawnSync(process.execPath, [cli, 'train', '--resume', out, '--steps', String(summary.step + 3)], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
      assert.equal(resumed.status, 0, resumed.stderr);
      assert.deepEqual(readRecords<MetricsRecord>(metrics).map((m) => m.step), Array.from({ length: summary.step + 3 }, (_, i) => i + 1));
      results.push(`${signal} at step ${summary.step} -> exit ${code}`);
      tally.survived++;
    }
    console.log(`      ${results.join('; ')}; each resumed`);
  });

  it('one writer per run: a resume while another process trains the run is refused, leaving it untouched; after a SIGKILL the stale lock is taken over', async () => {
    const dir = workdir();
    dirs.push(dir);
    const out = join(dir, 'locked');
    const child = spawn(process.execPath, [cli, 'train', 'p.txt', '--hidden', '8', '--seq', '8', '--batch', '2', '--steps', '1000000', '--diag-every', '0', '--checkpoint-every', '20', '--out', out], { cwd: dir, stdio: 'ignore' });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const lock = join(out, 'writer.lock');
    while (!existsSync(join(out, 'resume.safetensors'))) await new Promise((r) => setTimeout(r, 10));
    assert.equal(JSON.parse(readFileSync(lock, 'utf8')).pid, child.pid);
    const tmpsBefore = readdirSync(out).length;
    const refused = spawnSync(process.execPath, [cli, 'train', '--resume', out, '--steps', '5'], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
    assert.equal(refused.status, 2, refused.stderr);
    assert.match(refused.stderr, new RegExp(`is being trained by process ${child.pid} on .*Stop that run first`));
    assert.ok(readdirSync(out).length >= tmpsBefore - 1 && existsSync(lock), 'the refused resume removed nothing and left the lock');
    child.kill('SIGKILL');
    await exited;
    assert.ok(existsSync(lock), 'a killed writer leaves its lock');
    // Killed mid-append, metrics.jsonl may end in a partial line (the resume drops it): count whole ones.
    const whole = readFileSync(join(out, 'metrics.jsonl'), 'utf8').split('\n').length - 1;
    const resumed = spawnSync(process.execPath, [cli, 'train', '--resume', out, '--steps', String(whole + 2)], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
    assert.equal(resumed.status, 0, resumed.stderr);
    assert.ok(!existsSync(lock), 'the resume released the lock it took over');
    writeFileSync(lock, '{"pid":'); // cut short between its create and its write
    const again = spawnSync(process.execPath, [cli, 'train', '--resume', out, '--steps', String(JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')).step + 1)], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
    assert.equal(again.status, 0, again.stderr);
  });

  it('output errors never kill training: stdout closed by its reader (EPIPE), stdout on a full device (ENOSPC)', async () => {
    const dir = workdir();
    dirs.push(dir);
    const args = ['train', 'p.txt', '--hidden', '8', '--seq', '8', '--batch', '2', '--steps', '150', '--diag-every', '0', '--eval-every', '0'];
    tally.injected++;
    // `rnn-lab train ... | head -1`: the reader takes the first line and goes.
    const child = spawn(process.execPath, [cli, ...args, '--out', 'piped'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.once('data', () => child.stdout.destroy());
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    assert.equal(code, 0, stderr);
    assert.equal(stderr, '');
    assert.equal((JSON.parse(readFileSync(join(dir, 'piped', 'summary.json'), 'utf8')) as RunSummary).status, 'finished');
    assert.equal(readRecords<MetricsRecord>(join(dir, 'piped', 'metrics.jsonl')).length, 150);
    tally.survived++;
    if (existsSync('/dev/full')) {
      tally.injected++;
      const full = openSync('/dev/full', 'w');
      const r = spawnSync(process.execPath, [cli, ...args, '--out', 'full'], { cwd: dir, encoding: 'utf8', stdio: ['ignore', full, 'pipe'], timeout: 60_000 });
      closeSync(full);
      assert.equal(r.status, 0, r.stderr);
      assert.equal((JSON.parse(readFileSync(join(dir, 'full', 'summary.json'), 'utf8')) as RunSummary).status, 'finished');
      tally.survived++;
    } else console.log('      /dev/full: skipped (no such device here)');
  });

  it('a full disk: the run ends with one line "disk full while writing <file>"; once space is freed its last generation resumes, bit for bit', function () {
    const dir = workdir();
    dirs.push(dir);
    if (process.platform !== 'linux' || process.getuid?.() !== 0) {
      console.log('      full disk: skipped (mounting a small tmpfs needs root on Linux; this runs as a user)');
      return this.skip();
    }
    const disk = join(dir, 'disk');
    mkdirSync(disk);
    const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=512k', 'tmpfs', disk], { encoding: 'utf8' });
    if (mount.status !== 0) {
      console.log(`      full disk: skipped (mount -t tmpfs failed: ${(mount.stderr || String(mount.error)).trim()})`);
      return this.skip();
    }
    try {
      tally.injected++;
      // ~170 kB left: room for a few generations (37 + 12 kB each, twice while one is written) and
      // a few hundred metrics records; the disk fills about a third of the way through the run.
      writeFileSync(join(disk, 'filler'), Buffer.alloc(512 * 1024 - 170 * 1024));
      const args = ['train', 'p.txt', '--cell', 'lstm', '--hidden', '8', '--seq', '8', '--batch', '2', '--steps', '600', '--diag-every', '0', '--eval-every', '50', '--checkpoint-every', '5'];
      const straight = spawnSync(process.execPath, [cli, ...args, '--out', 'straight'], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
      assert.equal(straight.status, 0, straight.stderr);
      const r = spawnSync(process.execPath, [cli, ...args, '--out', 'disk/run'], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
      assert.equal(r.status, 2, r.stdout);
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 1, r.stderr);
      const m = /^rnn-lab: disk full while writing (\S+)\. Free some space, then rnn-lab train --resume disk\/run: it continues from its last checkpoint \(step (\d+)\)$/.exec(lines[0]);
      assert.ok(m, lines[0]);
      const left = readdirSync(join(disk, 'run'));
      const torn = !readFileSync(join(disk, 'run', 'metrics.jsonl'), 'utf8').endsWith('\n');
      rmSync(join(disk, 'filler'));
      const resumed = spawnSync(process.execPath, [cli, 'train', '--resume', 'disk/run'], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
      assert.equal(resumed.status, 0, resumed.stderr);
      assert.match(resumed.stdout, new RegExp(`from step ${m![2]} to 600`));
      const got = runFiles(join(disk, 'run'));
      const want = runFiles(join(dir, 'straight'));
      assert.deepEqual(got.metrics, want.metrics);
      assert.ok(got.checkpoint.equals(want.checkpoint) && got.state.equals(want.state), 'the resumed run ended with other weights');
      console.log(`      full disk (tmpfs): "${lines[0].slice(9, 9 + 24)}... ${m![1].split('/').pop()}" at checkpoint step ${m![2]}; left ${left.join(', ')}${torn ? ' (a torn last metrics line)' : ''}; resumed after freeing space: bit-exact`);
      tally.survived++;
    } finally {
      spawnSync('umount', [disk]);
    }
  });

  it('resume repairs: a torn last line is cut before anything is appended; an edited config.json is honoured or refused in one line, never rewritten', () => {
    const dir = workdir();
    dirs.push(dir);
    tally.injected++;
    const run = (...a: string[]) => spawnSync(process.execPath, [cli, ...a], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
    const args = ['--hidden', '8', '--seq', '8', '--batch', '2', '--diag-every', '0', '--eval-every', '0'];
    assert.equal(run('train', 'p.txt', ...args, '--steps', '10', '--out', 'r').status, 0);
    // A record cut short after the last checkpoint's step (all records are at or before it).
    appendFileSync(join(dir, 'r', 'metrics.jsonl'), '{"type":"metrics","st');
    const configPath = join(dir, 'r', 'config.json');
    const original = readFileSync(configPath, 'utf8');
    const edited = JSON.parse(original) as RunConfig;
    writeFileSync(configPath, JSON.stringify({ ...edited, hidden: 16 }, null, 2));
    const refused = run('train', '--resume', 'r', '--steps', '15');
    assert.equal(refused.status, 2);
    assert.equal(refused.stderr.trim().split('\n').length, 1);
    assert.match(refused.stderr, /^rnn-lab: r\/config\.json: "hidden" is 16 but the checkpoint was trained with 8\./);
    assert.equal(readFileSync(configPath, 'utf8'), JSON.stringify({ ...edited, hidden: 16 }, null, 2), 'a refused resume changed config.json');
    const honoured = JSON.stringify({ ...edited, steps: 14, evalEvery: 7 }, null, 2);
    writeFileSync(configPath, honoured);
    const ok = run('train', '--resume', 'r');
    assert.equal(ok.status, 0, ok.stderr);
    assert.equal(readFileSync(configPath, 'utf8'), honoured, 'config.json was rewritten');
    const records = readRecords<MetricsRecord>(join(dir, 'r', 'metrics.jsonl'));
    assert.deepEqual(records.map((x) => x.step), Array.from({ length: 14 }, (_, i) => i + 1));
    assert.deepEqual(records.filter((x) => x.valLoss !== undefined).map((x) => x.step), [10, 14], 'the edited evalEvery was not honoured');
    tally.survived++;
  });

  it('a 100,000-step run keeps memory bounded; its metrics files grow linearly and nothing else does', function () {
    // Its two runs may each take up to their spawnSync limit (200 s) on a loaded machine.
    this.timeout(450_000);
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
    // The same tensors; only the header's digits of the step count (and its padding to 8 bytes) differ.
    assert.ok(Math.abs(long.sizes['checkpoint.safetensors'] - short.sizes['checkpoint.safetensors']) <= 16, `checkpoint ${short.sizes['checkpoint.safetensors']} -> ${long.sizes['checkpoint.safetensors']} bytes`);
    assert.deepEqual(Object.keys(long.sizes).sort(), Object.keys(short.sizes).sort(), 'the long run wrote other files');
    tally.survived++;
  });
});
