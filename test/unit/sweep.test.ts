/**
 * Sweeps: a config's "sweep" lists expand to the grid of configs in the stated order (last key
 * fastest), every config validated, and each bad key or value refused in one line that names it.
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateConfig } from '../../src/engine/config';
import { EngineError } from '../../src/engine/errors';
import { expandSweep, isSweepConfig, MAX_SWEEP_RUNS, sweepLabel } from '../../src/engine/sweep';

function refused(raw: Record<string, unknown>, pattern: RegExp): EngineError {
  try {
    expandSweep(raw, 'exp.rnn.json');
  } catch (e) {
    assert.ok(e instanceof EngineError, `not an EngineError: ${String(e)}`);
    assert.equal(e.code, 'bad-config');
    assert.match(e.message, pattern);
    assert.ok(!e.line.includes('\n') && e.line.length <= 300, e.line);
    return e;
  }
  assert.fail(`accepted ${JSON.stringify(raw).slice(0, 200)}`);
}

describe('sweep expansion', () => {
  it('is the cartesian product, the last key varying fastest, each run an ordinary validated config', () => {
    const s = expandSweep({ name: 'grid', data: 'a.txt', hidden: 32, steps: 7, sweep: { hiddenScale: [0.5, 1, 1.5], cell: ['rnn', 'lstm'] } });
    assert.equal(s.name, 'grid');
    assert.deepEqual(s.keys, ['hiddenScale', 'cell']);
    assert.deepEqual(
      s.runs.map((r) => [r.config.hiddenScale, r.config.cell]),
      [[0.5, 'rnn'], [0.5, 'lstm'], [1, 'rnn'], [1, 'lstm'], [1.5, 'rnn'], [1.5, 'lstm']],
    );
    assert.deepEqual(s.runs[3].values, { hiddenScale: 1, cell: 'lstm' });
    assert.equal(s.runs[3].config.name, 'grid hiddenScale=1 cell=lstm');
    for (const r of s.runs) {
      // The base fields carried into every run, and no "sweep" left in it.
      assert.equal(r.config.hidden, 32);
      assert.equal(r.config.steps, 7);
      assert.equal(r.config.data, 'a.txt');
      assert.ok(!('sweep' in r.config));
      assert.deepEqual(validateConfig(r.config).config, r.config);
    }
    assert.equal(new Set(s.runs.map((r) => r.config.name)).size, 6);
  });

  it('keeps the written key order and a single-key sweep', () => {
    const s = expandSweep({ sweep: { attention: ['none', 'dot'] }, task: 'reverse', srcLen: '10-20' });
    assert.deepEqual(s.runs.map((r) => r.config.attention), ['none', 'dot']);
    assert.equal(sweepLabel(s.runs[1].values), 'attention=dot');
    const three = expandSweep({ sweep: { seed: [1, 2], lr: [0.01, 0.001], cell: ['gru'] } });
    assert.deepEqual(three.runs.map((r) => [r.config.seed, r.config.lr]), [[1, 0.01], [1, 0.001], [2, 0.01], [2, 0.001]]);
    assert.deepEqual(Object.keys(three.runs[0].values), ['seed', 'lr', 'cell']);
  });

  it('a swept field overrides the same field given outside the sweep', () => {
    const s = expandSweep({ cell: 'gru', sweep: { cell: ['rnn', 'lstm'] } });
    assert.deepEqual(s.runs.map((r) => r.config.cell), ['rnn', 'lstm']);
  });

  it('passes the base config warnings on (unknown top-level keys are warnings, as for one run)', () => {
    const s = expandSweep({ hiden: 3, sweep: { cell: ['rnn'] } }, 'exp.rnn.json');
    assert.equal(s.runs.length, 1);
    assert.match(s.warnings[0], /unknown key "hiden" ignored \(did you mean "hidden"\?\)/);
  });

  it('refuses an unknown field, naming the one it likely meant', () => {
    refused({ sweep: { scale: [0.5, 1] } }, /exp\.rnn\.json: "sweep" has unknown field "scale" \(did you mean "hiddenScale"\?\)/);
    refused({ sweep: { celll: ['rnn'] } }, /unknown field "celll" \(did you mean "cell"\?\)/);
    refused({ sweep: { __proto__: [1] } }, /"sweep" is empty|unknown field/);
    refused({ sweep: JSON.parse('{"__proto__": [1]}') }, /unknown field "__proto__"/);
  });

  it('refuses fields a sweep cannot vary, an empty sweep, a list that is not one or is empty, duplicates', () => {
    refused({ sweep: { name: ['a', 'b'] } }, /cannot vary "name"/);
    refused({ sweep: { data: ['a.txt', 'b.txt'] } }, /cannot vary "data"/);
    refused({ sweep: {} }, /"sweep" is empty/);
    refused({ sweep: [1, 2] }, /"sweep" must be an object of lists, got \[1,2\]/);
    refused({ sweep: 'cell' }, /"sweep" must be an object of lists/);
    refused({ sweep: { cell: 'rnn' } }, /"sweep"\.cell must be a list of values, got "rnn"/);
    refused({ sweep: { cell: [] } }, /"sweep"\.cell is an empty list/);
    refused({ sweep: { lr: [0.1, 0.1] } }, /"sweep"\.lr lists 0\.1 twice/);
    refused({ sweep: { lr: [[0.1]] } }, /"sweep"\.lr holds \[0\.1\], not a number or a string/);
  });

  it('refuses a value the field refuses, naming field and value', () => {
    refused({ sweep: { cell: ['rnn', 'transformer'] } }, /"sweep"\.cell: "cell" must be one of rnn, lstm, gru, got "transformer"/);
    refused({ sweep: { hidden: [16, 0] } }, /"sweep"\.hidden: "hidden" must be between 1 and 4096, got 0/);
    refused({ sweep: { layers: [1.5] } }, /"layers" must be a whole number, got 1\.5/);
    refused({ sweep: { srcLen: ['5-10', '20-10'] } }, /"srcLen" must be "lo-hi"/);
  });

  it('refuses a bad base config before the grid, and a sweep of more than the cap', () => {
    refused({ hidden: -1, sweep: { cell: ['rnn'] } }, /"hidden" must be between/);
    const many = Array.from({ length: 9 }, (_, i) => i + 1);
    assert.equal(expandSweep({ sweep: { seed: many.slice(0, 8), layers: many.slice(0, 8) } }).runs.length, MAX_SWEEP_RUNS);
    refused({ sweep: { seed: many, layers: many.slice(0, 8) } }, new RegExp(`"sweep" makes 72 runs, more than ${MAX_SWEEP_RUNS}`));
  });

  it('a config with "sweep" is not one run: validateConfig refuses it rather than train the base alone', () => {
    assert.ok(isSweepConfig({ sweep: {} }));
    assert.ok(!isSweepConfig({ cell: 'rnn' }));
    assert.ok(!isSweepConfig(null) && !isSweepConfig([{ sweep: 1 }]));
    assert.throws(() => validateConfig({ sweep: { cell: ['rnn'] } }, 'x.rnn.json'), /x\.rnn\.json: "sweep" describes a grid of runs/);
  });
});

describe('rnn-lab train SWEEP.rnn.json', function () {
  this.timeout(300_000);
  const cli = join(__dirname, '..', '..', 'dist', 'cli.js');
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'rnn-sweep-'));
    writeFileSync(join(dir, 'a.txt'), readFileSync(join(__dirname, '..', '..', 'data', 'austen_pride_prejudice.txt'), 'utf8').slice(0, 20_000));
    const grid = { name: 'g', data: 'a.txt', hidden: 8, steps: 12, batch: 2, seqLength: 12, evalEvery: 6, diagEvery: 0, sweep: { cell: ['rnn', 'gru'], lr: [0.01, 0.002] } };
    writeFileSync(join(dir, 'g.rnn.json'), JSON.stringify(grid));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const table = (stdout: string) =>
    stdout
      .split('\n')
      .filter((l) => /^(cell|rnn|gru)\s/.test(l))
      // The time column is the only one that may differ between two runs of the same grid.
      .map((l) => l.replace(/\s+\d+\.\d\s+(finished|stopped|failed|diverged)$/, ' $1'));

  it('trains the grid one after another and with --parallel 2 alike: same runs, sweep.json each, the same table', () => {
    const seq = spawnSync(process.execPath, [cli, 'train', 'g.rnn.json', '--out', 'seq'], { cwd: dir, encoding: 'utf8' });
    assert.equal(seq.status, 0, seq.stderr);
    const par = spawnSync(process.execPath, [cli, 'train', 'g.rnn.json', '--out', 'par', '--parallel', '2'], { cwd: dir, encoding: 'utf8' });
    assert.equal(par.status, 0, par.stderr);
    assert.match(par.stdout, /4 runs \(cell x lr\), 2 at once in child processes/);
    const rows = table(seq.stdout);
    assert.equal(rows.length, 5, seq.stdout);
    assert.match(rows[0], /^cell\s+lr\s+final loss\s+best val loss\s+best val bpc\s+steps\s+time \(s\)\s+status$/);
    assert.deepEqual(rows.slice(1).map((r) => r.split(/\s+/).slice(0, 2)), [['rnn', '0.01'], ['rnn', '0.002'], ['gru', '0.01'], ['gru', '0.002']]);
    assert.ok(rows.slice(1).every((r) => /\s12 finished$/.test(r)), rows.join('\n'));
    // Same seed, same grid: the same final losses whichever way the runs were scheduled.
    assert.deepEqual(table(par.stdout), rows);
    for (const out of ['seq', 'par']) {
      const runs = readdirSync(join(dir, out));
      assert.equal(runs.length, 4);
      const members = runs.map((r) => JSON.parse(readFileSync(join(dir, out, r, 'sweep.json'), 'utf8')));
      assert.deepEqual(members.map((m) => m.index).sort(), [0, 1, 2, 3]);
      assert.equal(new Set(members.map((m) => m.id)).size, 1);
      for (const [i, r] of runs.entries()) {
        const config = JSON.parse(readFileSync(join(dir, out, r, 'config.json'), 'utf8'));
        assert.equal(config.cell, members[i].values.cell);
        assert.equal(config.lr, members[i].values.lr);
        assert.ok(!('sweep' in config), 'config.json is an ordinary run config');
        assert.equal(JSON.parse(readFileSync(join(dir, out, r, 'summary.json'), 'utf8')).status, 'finished');
      }
    }
  });

  it('refuses a bad sweep before any run folder exists, and flags a sweep does not take', () => {
    writeFileSync(join(dir, 'bad.rnn.json'), JSON.stringify({ data: 'a.txt', sweep: { cell: ['rnn', 'lstn'] } }));
    const bad = spawnSync(process.execPath, [cli, 'train', 'bad.rnn.json', '--out', 'bad'], { cwd: dir, encoding: 'utf8' });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /^rnn-lab: bad\.rnn\.json: "sweep"\.cell: "cell" must be one of rnn, lstm, gru, got "lstn"/);
    assert.equal(bad.stderr.trim().split('\n').length, 1);
    assert.ok(!existsSync(join(dir, 'bad')));
    const flag = spawnSync(process.execPath, [cli, 'train', 'g.rnn.json', '--steps', '3'], { cwd: dir, encoding: 'utf8' });
    assert.equal(flag.status, 2);
    assert.match(flag.stderr, /a sweep config takes no --steps/);
  });
});
