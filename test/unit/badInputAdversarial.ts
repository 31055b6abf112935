/**
 * The adversarial part of the bad-input corpus: for every CLI entry point (train, sample, report,
 * oracle, export, import, train --resume, bench's arguments) and the engine checks they share,
 * cases of each class of defect:
 *  - hangs: FIFOs, devices (/dev/zero, /dev/stdin on a pipe), folders and sockets where a file is
 *    read; files over a cap, including sparse files over 2 GiB; unbounded lengths;
 *  - crashes: damaged run files, a loss JSON wrote as null, deeply nested JSON, names that
 *    Object.prototype has, empty vocabularies, malformed oracle fixtures, odd numbers;
 *  - data loss: an --out that is a folder holding something else, a symbolic link, an existing
 *    export; run names that try to leave the run store;
 *  - silently wrong output: tiny temperatures, --top-k, non-finite weights, CSV statistics that
 *    overflow, duplicate column names;
 *  - unclear messages: every refusal is one line under ~300 characters, no stack, no "internal
 *    error", never an echo of a 100 kB argument.
 * A would-be hang is caught by the case's own spawn timeout (it then fails as not handled); no
 * case depends on timing otherwise.
 */
import * as assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { DEFAULT_CONFIG, validateConfig } from '../../src/engine/config';
import { seriesDataset } from '../../src/engine/data';
import { loadCheckpoint } from '../../src/engine/checkpoint';
import { parseJson, describeValue, MAX_JSON_DEPTH } from '../../src/engine/json';
import { validateFixture } from '../../src/engine/oracle';
import { drawFrom } from '../../src/engine/sample';
import { decodeSafetensors, encodeSafetensors } from '../../src/engine/safetensors';
import { Rng } from '../../src/engine/random';
import { datasetFor } from '../../src/engine/session';
import { createRunDir } from '../../src/cli/runDir';
import { fileProblem } from '../../src/cli/files';
import { cli, expectUserError, realCheckpoint, scratch, type BadInputCase } from './badInputCorpus';

/** The LM oracle fixtures, as the repository keeps them (bundled tests run from dist-test/unit). */
const oracleDir = join(__dirname, '../../test/fixtures/oracle');
const prose = 'It is a truth universally acknowledged, that a single man in possession of a good fortune. ';
const text = prose.repeat(40);
const huge = 'x'.repeat(100_000);
/** A run of the tiny model used by sample, report, export and resume cases (made once). */
let trainedRun: string | undefined;
const TINY = ['--hidden', '4', '--seq', '4', '--batch', '1', '--steps', '2'];

interface CliResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function run(cwd: string, args: string[], input?: string): CliResult {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd, encoding: 'utf8', timeout: 30_000, input, maxBuffer: 16 * 1024 * 1024 });
  assert.equal(r.error === undefined || (r.error as NodeJS.ErrnoException).code === 'ETIMEDOUT', true, `spawn failed: ${r.error}`);
  assert.equal(r.signal, null, `killed by ${r.signal}: the command hung`);
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** Checks the one line a refusal prints: "rnn-lab: ...", short, no stack, not the bug fallback. */
function assertRefusalLine(r: CliResult, mentions: string[]): string {
  const lines = r.stderr.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('warning: '));
  assert.equal(r.status, 2, `exit code ${r.status}; stderr: ${r.stderr.slice(0, 500)}; stdout: ${r.stdout.slice(0, 300)}`);
  assert.equal(lines.length, 1, `expected one stderr line, got ${lines.length}: ${r.stderr.slice(0, 800)}`);
  const line = lines[0];
  assert.match(line, /^rnn-lab: \S/);
  assert.ok(line.length <= 320, `stderr line is ${line.length} characters: ${line.slice(0, 200)}...`);
  assert.ok(!/internal error|this is a bug/i.test(line), `a user error fell through to the bug fallback: ${line}`);
  assert.ok(!/\bat .+:\d+:\d+\)?$/m.test(r.stderr), `stack trace: ${r.stderr.slice(0, 500)}`);
  assert.ok(!line.includes('x'.repeat(200)), 'a long argument was echoed whole');
  for (const m of mentions) assert.ok(line.includes(m), `stderr does not mention ${JSON.stringify(m)}: ${line}`);
  return line;
}

/** Everything under `dir` (relative paths), to show nothing was created or changed. */
function tree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      out.push(r);
      if (e.isDirectory()) walk(join(d, e.name), r);
    }
  };
  walk(dir, '');
  return out.sort();
}

/** Runs a refused command in `cwd`: one clear line, nothing on stdout, nothing created there. */
function refuse(cwd: string, args: string[], mentions: string[], input?: string): string {
  const before = tree(cwd);
  const r = run(cwd, args, input);
  const line = assertRefusalLine(r, mentions);
  assert.equal(r.stdout, '', `printed on stdout: ${r.stdout.slice(0, 300)}`);
  assert.deepEqual(tree(cwd), before, 'files appeared or vanished in the working folder');
  return line;
}

function trained(): string {
  if (trainedRun && existsSync(trainedRun)) return trainedRun;
  const dir = scratchDir('run-');
  writeFileSync(join(dir, 'in.txt'), text);
  const r = run(dir, ['train', 'in.txt', ...TINY, '--out', 'run']);
  assert.equal(r.status, 0, r.stderr);
  trainedRun = join(dir, 'run');
  return trainedRun;
}

/** Every scratch folder of these cases lives under one root, removed when the process ends. */
let root: string | undefined;
function scratchDir(prefix: string): string {
  if (!root) {
    root = scratch('rnn-lab-adversarial-');
    const made = root;
    process.on('exit', () => rmSync(made, { recursive: true, force: true }));
  }
  return mkdtempSync(join(root, prefix));
}

/** A scratch folder with `in.txt`, a copy of the trained run as `run`, and `files`. */
function setup(files: Record<string, string | Uint8Array> = {}, withRun = false): string {
  const dir = scratchDir('case-');
  writeFileSync(join(dir, 'in.txt'), text);
  if (withRun) cpSync(trained(), join(dir, 'run'), { recursive: true });
  for (const [name, content] of Object.entries(files)) {
    if (name.endsWith('/')) mkdirSync(join(dir, name), { recursive: true });
    else writeFileSync(join(dir, name), content);
  }
  return dir;
}

const mkfifo = (path: string) => execFileSync('mkfifo', [path]);
/** A sparse file of `bytes` (no disk used): the size a stat reports without the data. */
const sparse = (path: string, bytes: number) => {
  writeFileSync(path, '');
  truncateSync(path, bytes);
};
const GiB3 = 3 * 1024 ** 3;
const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);

/** Special files every reading path is given, each made in `dir` under `name`. */
const specials: [string, (dir: string, name: string) => void, string][] = [
  ['a FIFO', (dir, name) => mkfifo(join(dir, name)), 'FIFO'],
  ['a link to /dev/zero', (dir, name) => symlinkSync('/dev/zero', join(dir, name)), 'character device'],
  ['a link to /dev/null', (dir, name) => symlinkSync('/dev/null', join(dir, name)), 'character device'],
  ['a folder', (dir, name) => mkdirSync(join(dir, name)), 'folder'],
  ['a sparse 3 GiB file', (dir, name) => sparse(join(dir, name), GiB3), 'GiB'],
];

export function adversarialCases(): BadInputCase[] {
  const cases: BadInputCase[] = [];
  const add = (group: string, name: string, runCase: () => unknown) =>
    cases.push({ group, name, run: async () => void (await runCase()) });

  // -------------------------------------------------------------------------------------------
  // train: the data file, --config, flags and numbers, --out, names, model size, CSV content.
  const T = 'CLI train';
  for (const [what, make, mention] of specials) {
    add(T, `data file is ${what}`, () => {
      const dir = setup();
      make(dir, 'data.txt');
      refuse(dir, ['train', 'data.txt', ...TINY, '--out', 'o'], ['data.txt', mention]);
    });
    add(T, `--config is ${what}`, () => {
      const dir = setup();
      make(dir, 'c.rnn.json');
      refuse(dir, ['train', 'in.txt', '--config', 'c.rnn.json', '--out', 'o'], ['c.rnn.json', mention]);
    });
  }
  add(T, 'data file /dev/stdin on a pipe', () => refuse(setup(), ['train', '/dev/stdin', ...TINY, '--out', 'o'], ['/dev/stdin', 'not a regular file'], 'abc'));
  add(T, 'data file /dev/zero itself', () => refuse(setup(), ['train', '/dev/zero', '--out', 'o'], ['/dev/zero', 'character device']));
  add(T, 'data file is a socket', async () => {
    const dir = setup();
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(join(dir, 'sock.txt'), resolve));
    try {
      const before = tree(dir);
      const r = run(dir, ['train', 'sock.txt', '--out', 'o']);
      assertRefusalLine(r, ['sock.txt', 'socket']);
      assert.deepEqual(tree(dir), before);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
  add(T, 'sparse 3 GiB data file with --max-file-bytes above it: refused, not read', () => {
    const dir = setup();
    sparse(join(dir, 'big.txt'), GiB3);
    refuse(dir, ['train', 'big.txt', '--max-file-bytes', '4000000000', '--out', 'o'], ['big.txt', 'the engine can hold']);
  });
  const configs: [string, string | Uint8Array, string[]][] = [
    ['nested 100,000 levels deep', `{"hidden": ${deep(100_000)}}`, ['c.rnn.json', 'levels deep']],
    [`nested ${MAX_JSON_DEPTH + 1} levels deep`, `{"hidden": ${deep(MAX_JSON_DEPTH)}}`, ['c.rnn.json', 'levels deep']],
    ['empty', '', ['c.rnn.json', 'not valid JSON']],
    ['JSON with text after it', '{"hidden": 8} and more', ['c.rnn.json', 'not valid JSON']],
    ['a multi-line text (the message stays one line)', 'line one\nline two\n"quoted"\n', ['c.rnn.json', 'not valid JSON']],
    ['Latin-1 bytes', Uint8Array.from([0x7b, 0x22, 0xe9, 0x22, 0x3a, 0x31, 0x7d]), ['c.rnn.json', 'UTF-8']],
    ['a number', '42', ['c.rnn.json', 'not a JSON object']],
    ['null', 'null', ['c.rnn.json', 'not a JSON object']],
    ['a 100 kB key with a bad value', `{"hidden": "${huge}"}`, ['c.rnn.json', '"hidden"']],
  ];
  for (const [what, content, mentions] of configs) {
    add(T, `--config ${what}`, () => refuse(setup({ 'c.rnn.json': content }), ['train', 'in.txt', '--config', 'c.rnn.json', '--out', 'o'], mentions));
  }
  add(T, '--config with a UTF-8 BOM trains (accepted)', () => {
    const dir = setup({ 'c.rnn.json': '\ufeff{"hidden": 4, "seqLength": 4, "batch": 1, "steps": 1}' });
    const r = run(dir, ['train', 'in.txt', '--config', 'c.rnn.json', '--out', 'o']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(JSON.parse(readFileSync(join(dir, 'o', 'config.json'), 'utf8')).hidden, 4);
  });
  add(T, '--config with a 100 kB unknown key warns in a short line (accepted)', () => {
    const dir = setup({ 'c.rnn.json': JSON.stringify({ [huge]: 1, hidden: 4, seqLength: 4, batch: 1, steps: 1 }) });
    const r = run(dir, ['train', 'in.txt', '--config', 'c.rnn.json', '--out', 'o']);
    assert.equal(r.status, 0, r.stderr.slice(0, 300));
    const warning = r.stderr.split('\n').find((l) => l.startsWith('warning:'))!;
    assert.ok(warning && warning.length < 300, `warning of ${warning?.length} characters`);
  });
  for (const flag of ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf', 'isPrototypeOf', '__defineGetter__']) {
    add(T, `--${flag} is an unknown option`, () => refuse(setup(), ['train', 'in.txt', `--${flag}`, '5', '--out', 'o'], [`--${flag}`, 'unknown option']));
  }
  const numbers: [string, string, string[]][] = [
    ['--hidden', '1e400', ['--hidden', 'largest number']],
    ['--hidden', '0x10', ['--hidden', 'decimal']],
    ['--hidden', '0b101', ['--hidden', 'decimal']],
    ['--hidden', '0o17', ['--hidden', 'decimal']],
    ['--hidden', ' 8', ['--hidden', 'number']],
    ['--hidden', '8 ', ['--hidden', 'number']],
    ['--hidden', '1_000', ['--hidden', 'number']],
    ['--hidden', '8px', ['--hidden', 'number']],
    ['--hidden', '-Infinity', ['"hidden"', 'finite number']],
    ['--steps', '-0', ['"steps"', 'got 0']],
    ['--steps', 'NaN', ['--steps', 'number']],
    ['--steps', '1e7000', ['--steps', 'largest number']],
    ['--lr', '1e-400', ['"lr"', 'between']],
    ['--seed', 'Infinity', ['"seed"', 'finite number']],
    ['--seed', '4294967296', ['"seed"', 'between']],
    ['--layers', '2.5', ['"layers"', 'whole number']],
    ['--dropout', '.', ['--dropout', 'number']],
    ['--hidden', huge, ['--hidden', 'number', '\u2026']],
  ];
  for (const [flag, value, mentions] of numbers) {
    add(T, `${flag} ${JSON.stringify(value.slice(0, 12))}`, () => refuse(setup(), ['train', 'in.txt', flag, value, '--out', 'o'], mentions));
  }
  add(T, 'a flag given twice', () => refuse(setup(), ['train', 'in.txt', '--hidden', '4', '--hidden', '8', '--out', 'o'], ['--hidden', 'twice']));
  add(T, 'a 100 kB option name', () => refuse(setup(), ['train', 'in.txt', `--${huge}`, '1', '--out', 'o'], ['unknown option', '\u2026']));
  add(T, 'a 100 kB data path', () => refuse(setup(), ['train', huge, '--out', 'o'], ['"data"']));
  add(T, 'a 100 kB --name', () => refuse(setup(), ['train', 'in.txt', '--name', huge, '--out', 'o'], ['"name"', 'at most 100']));
  add(T, 'an empty option name (--=5)', () => refuse(setup(), ['train', 'in.txt', '--=5', '--out', 'o'], ['unknown option']));
  // Models that cannot fit are refused before any folder is made, with the size they need.
  add(T, 'hidden 4096 x 8 layers: refused before a folder, with the memory it needs', () => {
    const line = refuse(setup(), ['train', 'in.txt', '--hidden', '4096', '--layers', '8'], ['in.txt', 'GiB of memory', 'parameters']);
    assert.match(line, /would need \d+\.\d GiB/);
  });
  add(T, 'a vocabulary of 20,000 symbols x hidden 4096: refused before a folder', () => {
    const cjk = Array.from({ length: 20_000 }, (_, i) => String.fromCodePoint(0x4e00 + i)).join('');
    refuse(setup({ 'cjk.txt': cjk + cjk }), ['train', 'cjk.txt', '--hidden', '4096'], ['cjk.txt', 'vocabulary of 20,000', 'GiB']);
  });
  add(T, 'seq 10000 x batch 1024 x hidden 2048: refused before a folder', () =>
    refuse(setup({ 'long.txt': prose.repeat(120_000) }), ['train', 'long.txt', '--hidden', '2048', '--seq', '10000', '--batch', '1024', '--max-file-bytes', '20000000'], ['long.txt', 'GiB']),
  );
  // --out: nothing the user had is replaced or written into.
  add(T, '--out a folder that is not a run (its file kept, nothing added)', () => {
    const dir = setup({ 'keep/': '', 'keep/notes.txt': 'mine' });
    refuse(dir, ['train', 'in.txt', ...TINY, '--out', 'keep'], ['keep', 'not a run']);
    assert.deepEqual(readdirSync(join(dir, 'keep')), ['notes.txt']);
  });
  add(T, '--out a folder holding only a summary.json (not a run): kept', () => {
    const dir = setup({ 'k/': '', 'k/summary.json': '{"mine": true}' });
    refuse(dir, ['train', 'in.txt', ...TINY, '--out', 'k'], ['not a run']);
    assert.equal(readFileSync(join(dir, 'k', 'summary.json'), 'utf8'), '{"mine": true}');
  });
  add(T, '--out a symbolic link to an empty folder: not replaced, nothing written through', () => {
    const dir = setup({ 'target/': '' });
    symlinkSync(join(dir, 'target'), join(dir, 'link'));
    refuse(dir, ['train', 'in.txt', ...TINY, '--out', 'link'], ['link', 'symbolic link']);
    assert.deepEqual(readdirSync(join(dir, 'target')), []);
  });
  add(T, '--out a dangling symbolic link: not followed', () => {
    const dir = setup();
    symlinkSync(join(dir, 'nowhere'), join(dir, 'link'));
    refuse(dir, ['train', 'in.txt', ...TINY, '--out', 'link'], ['link', 'symbolic link']);
    assert.ok(!existsSync(join(dir, 'nowhere')));
  });
  add(T, '--out an existing file', () => refuse(setup({ 'f.txt': 'x' }), ['train', 'in.txt', ...TINY, '--out', 'f.txt'], ['f.txt', 'not a folder']));
  add(T, '--out a name too long for the file system', () => refuse(setup(), ['train', 'in.txt', ...TINY, '--out', 'a'.repeat(300)], ['too long']));
  add(T, '--out an empty folder is used (accepted)', () => {
    const dir = setup({ 'empty/': '' });
    assert.equal(run(dir, ['train', 'in.txt', ...TINY, '--out', 'empty']).status, 0);
    assert.ok(existsSync(join(dir, 'empty', 'checkpoint.safetensors')));
  });
  add(T, 'a run name too long, derived from the file name, is cut short (accepted)', () => {
    const file = `${'n'.repeat(200)}.txt`;
    const dir = setup({ [file]: text });
    const r = run(dir, ['train', file, ...TINY]);
    assert.equal(r.status, 0, r.stderr);
    const [runDir] = readdirSync(join(dir, '.rnn-lab', 'runs'));
    assert.ok(runDir.length < 140, runDir);
    assert.equal(JSON.parse(readFileSync(join(dir, '.rnn-lab', 'runs', runDir, 'config.json'), 'utf8')).name.length, 100);
  });
  add(T, '--name ../x stays inside the run store (accepted)', () => {
    const dir = setup({ 'sub/': '' });
    const r = run(join(dir, 'sub'), ['train', '../in.txt', ...TINY, '--name', '../../x']);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(readdirSync(join(dir, 'sub')), ['.rnn-lab']);
    assert.equal(readdirSync(join(dir, 'sub', '.rnn-lab', 'runs')).length, 1);
    assert.deepEqual(readdirSync(dir).sort(), ['in.txt', 'sub']);
  });
  add(T, 'run names that collide in the same second: every candidate sanitised', async () => {
    const dir = scratchDir('names-');
    const root = join(dir, 'runs');
    // Occupy every name of the next few seconds so the collision path must run.
    const config = { ...DEFAULT_CONFIG, name: '../../escape' };
    mkdirSync(root);
    const now = Date.now();
    for (let s = 0; s < 5; s++) {
      const stamp = new Date(now + s * 1000).toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
      for (const name of ['_.._escape', '__.._escape', '_.._.._escape', '.._.._escape']) mkdirSync(join(root, `${stamp}-${name}`));
    }
    const made = (await createRunDir(undefined, config, root)).dir;
    assert.ok(made.startsWith(root + '/'), made);
    assert.ok(!made.slice(root.length + 1).includes('/'), `a run folder outside the store: ${made}`);
    assert.deepEqual(readdirSync(dir), ['runs']);
  });
  // CSV content: statistics that overflow, and ambiguous column names.
  const csv = (head: string, row: (i: number) => string) => `${head}\n${Array.from({ length: 80 }, (_, i) => row(i)).join('\n')}\n`;
  add(T, 'CSV whose mean overflows', () => refuse(setup({ 's.csv': csv('t,v', (i) => `${i},1.7e308`) }), ['train', 's.csv', ...TINY, '--out', 'o'], ['s.csv', 'too large', 'mean']));
  add(T, 'CSV whose variance overflows', () => refuse(setup({ 's.csv': csv('t,v', (i) => `${i},${i % 2 ? '' : '-'}1e200`) }), ['train', 's.csv', ...TINY, '--out', 'o'], ['s.csv', 'variance']));
  add(T, 'CSV with two columns of the picked name', () => refuse(setup({ 's.csv': csv('v,v', (i) => `${i},${i * 2}`) }), ['train', 's.csv', ...TINY, '--columns', 'v', '--out', 'o'], ['s.csv', 'ambiguous']));
  add(T, 'CSV whose default (last) column name appears twice', () => refuse(setup({ 's.csv': csv('v,t,v', (i) => `${i},${i},${i * 2}`) }), ['train', 's.csv', ...TINY, '--out', 'o'], ['s.csv', 'ambiguous']));

  // -------------------------------------------------------------------------------------------
  // Commands: names Object.prototype has; bench's arguments.
  const C = 'CLI commands';
  for (const cmd of ['toString', 'hasOwnProperty', 'constructor', '__proto__', 'valueOf', 'isPrototypeOf', 'propertyIsEnumerable', 'toLocaleString']) {
    add(C, `rnn-lab ${cmd}`, () => refuse(setup(), [cmd], ['unknown command']));
  }
  add(C, 'a 100 kB command name', () => refuse(setup(), [huge], ['unknown command', '\u2026']));
  add(C, 'bench with an unknown argument (refused before any measuring)', () => refuse(setup(), ['bench', '--constructor'], ['bench takes only']));
  add(C, 'bench with a 100 kB argument', () => refuse(setup(), ['bench', huge], ['bench takes only', '\u2026']));
  add(C, 'bench --child run by hand (it needs the parent\'s IPC channel)', () => refuse(setup(), ['bench', '--child'], ['internal']));
  add(C, 'bench --quick --json --quick=no', () => refuse(setup(), ['bench', '--quick', '--json', '--quick=no'], ['bench takes only']));

  // -------------------------------------------------------------------------------------------
  // sample.
  const S = 'CLI sample';
  const sampleFlags: [string, string, string[]][] = [
    ['--length', '20001', ['--length', '20,000']],
    ['--length', '1e9', ['--length']],
    ['--length', '-1', ['--length']],
    ['--length', '1.5', ['--length']],
    ['--length', '0x10', ['--length', 'decimal']],
    ['--top-k', '0', ['--top-k', 'from 1']],
    ['--top-k', '-3', ['--top-k']],
    ['--top-k', '2.5', ['--top-k']],
    ['--top-k', 'NaN', ['--top-k']],
    ['--temperature', '0', ['--temperature', 'above 0']],
    ['--temperature', '-1', ['--temperature']],
    ['--temperature', 'NaN', ['--temperature']],
    ['--temperature', 'Infinity', ['--temperature']],
    ['--temperature', '1e400', ['--temperature', 'largest number']],
    ['--seed', '-1', ['--seed']],
    ['--seed', '1.5', ['--seed']],
    ['--seed', '4294967296', ['--seed']],
    ['--constructor', '1', ['--constructor', 'no option']],
    ['--prime', huge, ['--prime', '100,000']],
  ];
  for (const [flag, value, mentions] of sampleFlags) {
    add(S, `${flag} ${JSON.stringify(value.slice(0, 12))}`, () => refuse(setup({}, true), ['sample', 'run', flag, value], mentions));
  }
  for (const [what, make, mention] of specials) {
    add(S, `the run folder is ${what === 'a folder' ? 'a folder without a checkpoint' : what}`, () => {
      const dir = setup();
      make(dir, 'r');
      refuse(dir, ['sample', 'r'], what === 'a folder' ? ['checkpoint'] : ['r']);
    });
    if (what !== 'a folder') {
      add(S, `checkpoint.safetensors is ${what}`, () => {
        const dir = setup({}, true);
        rmSync(join(dir, 'run', 'checkpoint.safetensors'));
        make(join(dir, 'run'), 'checkpoint.safetensors');
        refuse(dir, ['sample', 'run'], ['checkpoint', mention]);
      });
    }
  }
  add(S, 'a run folder that does not exist', () => refuse(setup(), ['sample', 'nope'], ['nope', 'does not exist']));
  add(S, 'checkpoint with a NaN weight: refused, naming the tensor', () => {
    const dir = setup({}, true);
    const path = join(dir, 'run', 'checkpoint.safetensors');
    writeFileSync(path, withTensorValue(new Uint8Array(readFileSync(path)), 'weight_hh_l0', 3, NaN));
    refuse(dir, ['sample', 'run'], ['weight_hh_l0', 'NaN']);
  });
  add(S, 'a tiny temperature is greedy: the same text for every seed, not the last symbol repeated', () => {
    const dir = setup({}, true);
    const outs = ['1', '2', '3'].map((seed) => run(dir, ['sample', 'run', '--temperature', '1e-300', '--length', '40', '--seed', seed]));
    for (const o of outs) assert.equal(o.status, 0, o.stderr);
    assert.equal(outs[1].stdout, outs[0].stdout);
    assert.equal(outs[2].stdout, outs[0].stdout);
    const vocab = JSON.parse(decodeSafetensors(new Uint8Array(readFileSync(join(dir, 'run', 'checkpoint.safetensors')))).metadata.vocab) as string[];
    assert.notEqual(outs[0].stdout.trimEnd(), vocab[vocab.length - 1].repeat(40).trimEnd());
  });
  add(S, '--length 20000 is accepted (the bound itself)', () => {
    const r = run(setup({}, true), ['sample', 'run', '--length', '20000']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(Array.from(r.stdout.replace(/\n$/, '')).length, 20_000);
  });

  // -------------------------------------------------------------------------------------------
  // report.
  const R = 'CLI report';
  for (const file of ['metrics.jsonl', 'config.json', 'diagnostics.jsonl']) {
    for (const [what, make, mention] of specials) {
      if (what === 'a sparse 3 GiB file' && file === 'diagnostics.jsonl') continue;
      add(R, `${file} is ${what}`, () => {
        const dir = setup({}, true);
        rmSync(join(dir, 'run', file));
        make(join(dir, 'run'), file);
        refuse(dir, ['report', 'run'], [file, mention]);
      });
    }
  }
  const damaged: [string, (run: string) => void, string[]][] = [
    ['config.json is not JSON', (r) => writeFileSync(join(r, 'config.json'), '{"cell": "lstm",'), ['config.json', 'not valid JSON']],
    ['config.json nests 100,000 levels', (r) => writeFileSync(join(r, 'config.json'), deep(100_000)), ['config.json', 'levels deep']],
    ['config.json is a list', (r) => writeFileSync(join(r, 'config.json'), '[1]'), ['config.json', 'not a JSON object']],
    ['config.json has a wrong field', (r) => writeFileSync(join(r, 'config.json'), '{"hidden": "x"}'), ['config.json', '"hidden"']],
    ['a metrics line is not JSON', (r) => writeFileSync(join(r, 'metrics.jsonl'), '{"step":1,"loss":2}\nnot json\n{"step":2,"loss":1}\n'), ['metrics.jsonl', 'line 2']],
  ];
  for (const [what, damage, mentions] of damaged) {
    add(R, what, () => {
      const dir = setup({}, true);
      damage(join(dir, 'run'));
      refuse(dir, ['report', 'run'], mentions);
    });
  }
  const readable: [string, (run: string) => void, RegExp][] = [
    ['a loss of Infinity (JSON null) prints "not finite"', (r) => rewriteJsonl(join(r, 'metrics.jsonl'), (m) => ({ ...m, loss: null, gradNorm: null })), /final loss not finite/],
    ['records with fields of the wrong type print n/a', (r) => rewriteJsonl(join(r, 'metrics.jsonl'), (m) => ({ ...m, loss: 'x', step: { a: 1 }, clipFraction: [] })), /final loss n\/a/],
    ['diagnostics whose lists are not lists', (r) => rewriteJsonl(join(r, 'diagnostics.jsonl'), (d) => ({ ...d, spectrum: 5, saturation: 'x', flow: [{ layer: 0, h: 'no' }] })), /diagnostics at step/],
    ['a diagnostics record nested 10,000 levels', (r) => writeFileSync(join(r, 'diagnostics.jsonl'), `{"step":1,"spectrum":${deep(10_000)}}\n`), /diagnostics at step 1/],
    ['metrics records that are not objects are skipped', (r) => writeFileSync(join(r, 'metrics.jsonl'), `5\n"x"\nnull\n[1]\n${readFileSync(join(r, 'metrics.jsonl'), 'utf8')}`), /final loss \d/],
  ];
  for (const [what, damage, expected] of readable) {
    add(R, `${what} (accepted)`, () => {
      const dir = setup({}, true);
      damage(join(dir, 'run'));
      const r = run(dir, ['report', 'run']);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, expected);
    });
  }
  add(R, 'the run folder is a file', () => refuse(setup({ 'f': 'x' }), ['report', 'f'], ['f', 'not a folder']));
  add(R, 'a sparse 600 MB metrics.jsonl', () => {
    const dir = setup({}, true);
    sparse(join(dir, 'run', 'metrics.jsonl'), 600 * 1024 ** 2);
    refuse(dir, ['report', 'run'], ['metrics.jsonl', 'MiB']);
  });

  // -------------------------------------------------------------------------------------------
  // oracle: the fixture files (the format is in the oracle folder's README).
  const O = 'CLI oracle';
  for (const [what, make, mention] of specials) {
    add(O, `fixture is ${what}`, () => {
      const dir = setup();
      make(dir, 'f.json');
      refuse(dir, ['oracle', 'f.json'], ['f.json', mention]);
    });
  }
  const fixture = () => JSON.parse(readFileSync(join(oracleDir, 'lstm_1layer_ce.json'), 'utf8'));
  const fixtureCases: [string, (f: Record<string, any>) => unknown, string[]][] = [
    ['cell "constructor"', (f) => ((f.cell = 'constructor'), f), ['"cell"']],
    ['cell "__proto__"', (f) => ((f.cell = '__proto__'), f), ['"cell"']],
    ['dims missing', (f) => (delete f.dims, f), ['"dims"']],
    ['hidden_size 1e9', (f) => ((f.dims.hidden_size = 1e9), f), ['"dims.hidden_size"']],
    ['batch 0', (f) => ((f.dims.batch = 0), f), ['"dims.batch"']],
    ['layers 2.5', (f) => ((f.dims.layers = 2.5), f), ['"dims.layers"']],
    ['layers 3 with one layer of weights', (f) => ((f.dims.layers = 3), f), ['"weights"', '3 layer']],
    ['a weight of the wrong shape', (f) => ((f.weights[0].W_xi = [[1]]), f), ['weights[0].W_xi', 'shape']],
    ['a weight holding a string', (f) => ((f.weights[0].W_hf[0][0] = 'x'), f), ['weights[0].W_hf', 'finite number']],
    ['a weight holding null', (f) => ((f.weights[0].W_hf[1][2] = null), f), ['weights[0].W_hf']],
    ['inputs a string', (f) => ((f.inputs = 'x'), f), ['"inputs"']],
    ['inputs nested one level too deep', (f) => ((f.inputs[0][0][0] = [1]), f), ['"inputs"']],
    ['a target out of range', (f) => ((f.targets[0][0] = 99), f), ['"targets"', 'class ids']],
    ['a fractional target', (f) => ((f.targets[1][1] = 0.5), f), ['"targets"']],
    ['initial_state missing', (f) => (delete f.initial_state, f), ['"initial_state"']],
    ['LSTM initial state without c', (f) => (delete f.initial_state[0].c, f), ['initial_state[0].c']],
    ['dense.b_y of the wrong size', (f) => ((f.dense.b_y = [1, 2]), f), ['dense.b_y']],
    ['the float64 block missing', (f) => (delete f.float64, f), ['"float64"']],
    ['the float64 loss null', (f) => ((f.float64.loss = null), f), ['float64.loss']],
    ['a reference gradient of the wrong shape', (f) => ((f.float64.gradients.weights[0].W_xg = [[0]]), f), ['float64.gradients.weights[0].W_xg']],
    ['reference outputs missing a layer', (f) => ((f.float64.outputs.per_layer = []), f), ['per_layer']],
    ['loss_type unknown', (f) => ((f.loss_type = 'mse'), f), ['"loss_type"']],
    ['a list', () => [1, 2], ['not a JSON object']],
    ['a string', () => 'lstm', ['not a JSON object']],
  ];
  for (const [what, edit, mentions] of fixtureCases) {
    // In-process (fast) for the validator, and a few through the CLI for the command's line.
    add('oracle fixture', what, () => expectUserError(() => validateFixture(edit(fixture()), 'f.json'), ['bad-oracle'], ['f.json', ...mentions]));
  }
  for (const [what, edit, mentions] of fixtureCases.slice(0, 4)) {
    add(O, what, () => refuse(setup({ 'f.json': JSON.stringify(edit(fixture())) }), ['oracle', 'f.json'], ['f.json', ...mentions]));
  }
  add(O, 'a fixture nested 100,000 levels deep', () => refuse(setup({ 'f.json': deep(100_000) }), ['oracle', 'f.json'], ['f.json', 'levels deep']));
  add(O, 'an empty fixture file', () => refuse(setup({ 'f.json': '' }), ['oracle', 'f.json'], ['f.json', 'not valid JSON']));
  add(O, 'a good fixture then a bad one: refused before any result is printed', () => refuse(setup({ 'f.json': '{' }), ['oracle', join(oracleDir, 'lstm_1layer_ce.json'), 'f.json'], ['f.json']));
  add(O, 'every shipped fixture passes the validator (control)', () => {
    for (const f of readdirSync(oracleDir).filter((n) => n.endsWith('.json'))) validateFixture(JSON.parse(readFileSync(join(oracleDir, f), 'utf8')), f);
  });

  // -------------------------------------------------------------------------------------------
  // export.
  const E = 'CLI export';
  add(E, '--out an existing file: kept byte for byte', () => {
    const dir = setup({ 'e.safetensors': 'mine' }, true);
    refuse(dir, ['export', 'run', '--out', 'e.safetensors'], ['e.safetensors', 'already exists', '--force']);
    assert.equal(readFileSync(join(dir, 'e.safetensors'), 'utf8'), 'mine');
  });
  add(E, '--out a symbolic link: nothing written through it', () => {
    const dir = setup({}, true);
    symlinkSync(join(dir, 'target.bin'), join(dir, 'e.safetensors'));
    refuse(dir, ['export', 'run', '--out', 'e.safetensors'], ['symbolic link']);
    assert.ok(!existsSync(join(dir, 'target.bin')));
  });
  add(E, '--out a symbolic link with --force yes: still refused', () => {
    const dir = setup({ 'target.bin': 'mine' }, true);
    symlinkSync(join(dir, 'target.bin'), join(dir, 'e.safetensors'));
    refuse(dir, ['export', 'run', '--out', 'e.safetensors', '--force', 'yes'], ['symbolic link']);
    assert.equal(readFileSync(join(dir, 'target.bin'), 'utf8'), 'mine');
  });
  add(E, '--out a folder', () => refuse(setup({ 'd/': '' }, true), ['export', 'run', '--out', 'd', '--force', 'yes'], ['d', 'not a file']));
  add(E, '--force with another value', () => refuse(setup({}, true), ['export', 'run', '--out', 'x.safetensors', '--force', 'true'], ['--force']));
  add(E, '--force yes replaces an existing file whole (accepted)', () => {
    const dir = setup({ 'e.safetensors': 'mine' }, true);
    const r = run(dir, ['export', 'run', '--out', 'e.safetensors', '--force', 'yes']);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(decodeSafetensors(new Uint8Array(readFileSync(join(dir, 'e.safetensors')))).tensors.has('weight_hh_l0'));
    assert.deepEqual(readdirSync(dir).filter((f) => f.includes('.tmp')), []);
  });
  add(E, '--out the run\'s own checkpoint, even with --force yes: refused and kept', () => {
    const dir = setup({}, true);
    const before = readFileSync(join(dir, 'run', 'checkpoint.safetensors'));
    refuse(dir, ['export', 'run', '--out', 'run/checkpoint.safetensors', '--force', 'yes'], ['file of the run']);
    assert.deepEqual(readFileSync(join(dir, 'run', 'checkpoint.safetensors')), before);
  });
  for (const [cmd, args] of [['train', ['train', 'in.txt', '--out', '']], ['import', ['import', 'm.safetensors', '--out', '']], ['export', ['export', 'run', '--out', '']], ['resume', ['train', '--resume', '']], ['sample', ['sample', '']]] as [string, string[]][]) {
    add(E === 'CLI export' ? `CLI ${cmd === 'resume' ? 'resume' : cmd}` : E, `an empty path (${args.join(' ')})`, () => refuse(setup({}, true), args, ['empty']));
  }
  for (const [what, make, mention] of specials) {
    if (what === 'a folder') continue;
    add(E, `the source .safetensors is ${what}`, () => {
      const dir = setup();
      make(dir, 'src.safetensors');
      refuse(dir, ['export', 'src.safetensors', '--out', 'e.safetensors'], ['src.safetensors', mention]);
    });
  }
  add(E, 'a 100 kB --prefix', () => refuse(setup({}, true), ['export', 'run', '--prefix', `${huge}.`, '--out', 'e.safetensors'], ['--prefix', '\u2026']));
  add(E, '--dtype f16', () => refuse(setup({}, true), ['export', 'run', '--dtype', 'f16', '--out', 'e.safetensors'], ['--dtype']));

  // -------------------------------------------------------------------------------------------
  // export-pytorch: the same refusals for its --out folder and its data file.
  const P = 'CLI export-pytorch';
  add(P, '--out a symbolic link to a folder: nothing written through it', () => {
    const dir = setup({ 'target/': '' }, true);
    symlinkSync(join(dir, 'target'), join(dir, 'p'));
    refuse(dir, ['export-pytorch', 'run', '--out', 'p'], ['symbolic link']);
    assert.deepEqual(readdirSync(join(dir, 'target')), []);
  });
  add(P, '--out an existing file: kept', () => {
    const dir = setup({ p: 'mine' }, true);
    refuse(dir, ['export-pytorch', 'run', '--out', 'p'], ['p', 'not a folder']);
    assert.equal(readFileSync(join(dir, 'p'), 'utf8'), 'mine');
  });
  add(P, '--out a folder that is not empty: kept', () => {
    const dir = setup({ 'p/': '', 'p/mine.txt': 'mine' }, true);
    refuse(dir, ['export-pytorch', 'run', '--out', 'p'], ['p', 'not empty']);
    assert.equal(readFileSync(join(dir, 'p', 'mine.txt'), 'utf8'), 'mine');
  });
  for (const [what, make, mention] of specials) {
    add(P, `--data is ${what}`, () => {
      const dir = setup({}, true);
      make(dir, 'd.txt');
      refuse(dir, ['export-pytorch', 'run', '--out', 'p', '--data', 'd.txt'], ['d.txt', mention]);
    });
  }

  // -------------------------------------------------------------------------------------------
  // translate: a seq2seq run's folder, its flags and its text, bounded.
  const TR = 'CLI translate';
  add(TR, 'a run folder that does not exist', () => refuse(setup({}), ['translate', 'nope', '123'], ['nope', 'does not exist']));
  add(TR, 'a FIFO as the run folder', () => {
    const dir = setup({});
    mkfifo(join(dir, 'f'));
    refuse(dir, ['translate', 'f', '123'], ['f', 'not a folder']);
  });
  add(TR, 'a language-model run (no seq2seq model)', () => refuse(setup({}, true), ['translate', 'run', '123'], ['run']));
  for (const [flag, value] of [['beam', '1e9'], ['beam', '0x10'], ['beam', '-1'], ['beam', huge], ['alpha', 'Infinity'], ['alpha', 'NaN'], ['alpha', '-0.5']]) {
    add(TR, `--${flag} ${value.length > 20 ? '<100 kB>' : value}`, () => refuse(setup({}, true), ['translate', 'run', '123', `--${flag}`, value], [`--${flag}`]));
  }
  add(TR, 'a text of 120,000 characters', () => refuse(setup({}, true), ['translate', 'run', 'x'.repeat(120_000)], ['characters']));

  // -------------------------------------------------------------------------------------------
  // import.
  const I = 'CLI import';
  /** A folder holding `m.safetensors`, the trained run exported (exported once, copied after). */
  let exportedBytes: Buffer | undefined;
  const exported = () => {
    if (!exportedBytes) {
      const dir = setup({}, true);
      assert.equal(run(dir, ['export', 'run', '--out', 'm.safetensors']).status, 0);
      exportedBytes = readFileSync(join(dir, 'm.safetensors'));
    }
    return setup({ 'm.safetensors': exportedBytes });
  };
  for (const [what, make, mention] of specials) {
    add(I, `the source is ${what}`, () => {
      const dir = setup();
      make(dir, 'm.safetensors');
      refuse(dir, ['import', 'm.safetensors', '--out', 'r'], ['m.safetensors', mention]);
    });
    if (what !== 'a sparse 3 GiB file') {
      add(I, `--vocab is ${what}`, () => {
        const dir = exported();
        make(dir, 'v.txt');
        refuse(dir, ['import', 'm.safetensors', '--vocab', 'v.txt', '--out', 'r'], ['v.txt', mention]);
      });
    }
  }
  const vocabs: [string, string, string[]][] = [
    ['an empty JSON list', '[]', ['v.json', 'empty']],
    ['a symbol listed twice', '["a","a","b"]', ['v.json', 'twice']],
    ['nested 100,000 levels', deep(100_000), ['v.json', 'levels deep']],
    ['not JSON', '["a",', ['v.json', 'not valid JSON']],
    ['a list of numbers', '[1,2]', ['v.json', 'list of strings']],
  ];
  for (const [what, content, mentions] of vocabs) {
    add(I, `--vocab ${what}`, () => {
      const dir = exported();
      writeFileSync(join(dir, 'v.json'), content);
      refuse(dir, ['import', 'm.safetensors', '--vocab', 'v.json', '--out', 'r'], mentions);
    });
  }
  add(I, '--vocab an empty text file', () => {
    const dir = exported();
    writeFileSync(join(dir, 'v.txt'), '');
    refuse(dir, ['import', 'm.safetensors', '--vocab', 'v.txt', '--out', 'r'], ['v.txt', 'empty']);
  });
  add(I, '--out a folder that is not a run: kept', () => {
    const dir = exported();
    mkdirSync(join(dir, 'k'));
    writeFileSync(join(dir, 'k', 'notes.txt'), 'mine');
    refuse(dir, ['import', 'm.safetensors', '--vocab', 'in.txt', '--out', 'k'], ['k', 'not a run']);
    assert.deepEqual(readdirSync(join(dir, 'k')), ['notes.txt']);
  });
  add(I, '--out a symbolic link to an empty folder: not replaced', () => {
    const dir = exported();
    mkdirSync(join(dir, 'target'));
    symlinkSync(join(dir, 'target'), join(dir, 'link'));
    refuse(dir, ['import', 'm.safetensors', '--vocab', 'in.txt', '--out', 'link'], ['symbolic link']);
    assert.deepEqual(readdirSync(join(dir, 'target')), []);
  });
  add(I, 'a 100 kB --name', () => refuse(exported(), ['import', 'm.safetensors', '--vocab', 'in.txt', '--name', huge], ['"name"']));
  add(I, '--name ../../x stays inside the run store (accepted)', () => {
    const dir = exported();
    const r = run(dir, ['import', 'm.safetensors', '--vocab', 'in.txt', '--name', '../../x']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(readdirSync(join(dir, '.rnn-lab', 'runs')).length, 1);
    assert.ok(!existsSync(join(dir, 'x')) && !existsSync(join(dir, '..', 'x')));
  });
  add(I, 'a sparse file whose one U8 tensor would widen to 2.4 GB of float64: refused before allocating', () => {
    const dir = setup();
    const n = 300 * 1024 * 1024;
    const head = new TextEncoder().encode(JSON.stringify({ 'weight_ih_l0': { dtype: 'U8', shape: [n], data_offsets: [0, n] } }));
    const b = new Uint8Array(8 + head.length);
    new DataView(b.buffer).setBigUint64(0, BigInt(head.length), true);
    b.set(head, 8);
    writeFileSync(join(dir, 'm.safetensors'), b);
    truncateSync(join(dir, 'm.safetensors'), b.length + n);
    refuse(dir, ['import', 'm.safetensors', '--out', 'r'], ['m.safetensors', 'values, more than']);
  });
  add(I, 'a checkpoint with an Infinity weight', () => {
    const dir = exported();
    const path = join(dir, 'm.safetensors');
    writeFileSync(path, withTensorValue(new Uint8Array(readFileSync(path)), 'weight_ih_l0', 0, Infinity));
    refuse(dir, ['import', 'm.safetensors', '--vocab', 'in.txt', '--out', 'r'], ['weight_ih_l0', 'Infinity']);
  });

  // -------------------------------------------------------------------------------------------
  // train --resume.
  const U = 'CLI resume';
  for (const [what, make, mention] of specials) {
    if (what === 'a folder') continue;
    for (const file of ['checkpoint.safetensors', 'resume.safetensors']) {
      add(U, `${file} is ${what}`, () => {
        const dir = setup({}, true);
        rmSync(join(dir, 'run', file));
        make(join(dir, 'run'), file);
        refuse(dir, ['train', '--resume', 'run', '--steps', '4'], [file, mention]);
      });
    }
    add(U, `the data file given is ${what}`, () => {
      const dir = setup({}, true);
      make(dir, 'd.txt');
      refuse(dir, ['train', '--resume', 'run', '--steps', '4', 'd.txt'], ['d.txt', mention]);
    });
    add(U, `the run folder is ${what}`, () => {
      const dir = setup();
      make(dir, 'r');
      refuse(dir, ['train', '--resume', 'r', '--steps', '4'], ['r']);
    });
  }
  for (const steps of ['0x10', '1e400', '-0', '4.5', 'NaN', huge]) {
    add(U, `--steps ${JSON.stringify(steps.slice(0, 12))}`, () => refuse(setup({}, true), ['train', '--resume', 'run', '--steps', steps], ['--steps']));
  }
  const withStep = (path: string, step: string) => {
    const d = decodeSafetensors(new Uint8Array(readFileSync(path)));
    writeFileSync(path, encodeSafetensors([...d.tensors].map(([name, t]) => ({ name, shape: t.shape, data: t.data })), { ...d.metadata, step }));
  };
  // resume.safetensors is a generation's commit point (runFolder/generation.ts): its step is the run's.
  add(U, 'a resume state whose step is not a number', () => {
    const dir = setup({}, true);
    withStep(join(dir, 'run', 'resume.safetensors'), 'x');
    refuse(dir, ['train', '--resume', 'run', '--steps', '4'], ['resume.safetensors', '"step"']);
  });
  // A checkpoint whose step disagrees is one generation behind: it is rebuilt from the resume state.
  add(U, 'a checkpoint whose step is not a number', () => {
    const dir = setup({}, true);
    withStep(join(dir, 'run', 'checkpoint.safetensors'), 'x');
    const r = run(dir, ['train', '--resume', 'run', '--steps', '4']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /checkpoint\.safetensors rebuilt from resume\.safetensors/);
    assert.equal(decodeSafetensors(new Uint8Array(readFileSync(join(dir, 'run', 'checkpoint.safetensors')))).metadata.step, '4');
  });
  add(U, '--resume with --constructor', () => refuse(setup({}, true), ['train', '--resume', 'run', '--constructor', '1'], ['--constructor']));

  // -------------------------------------------------------------------------------------------
  // The engine checks these commands share: checkpoint validation, sampling, JSON, config, CSV.
  const K = 'checkpoint';
  const good = realCheckpoint();
  const meta = (edit: (m: Record<string, string>) => void) => {
    const d = decodeSafetensors(good);
    const m = { ...d.metadata };
    edit(m);
    return encodeSafetensors([...d.tensors].map(([name, t]) => ({ name, shape: t.shape, data: t.data })), m);
  };
  const load = (b: Uint8Array) => () => loadCheckpoint(b, 'run/checkpoint.safetensors');
  for (const [v, where] of [[NaN, 0], [Infinity, 5], [-Infinity, 11]] as [number, number][]) {
    for (const tensor of ['weight_ih_l0', 'bias_hh_l0', 'head.weight']) {
      add(K, `${v} in ${tensor}: refused at load, naming the tensor`, () => expectUserError(load(withTensorValue(good, tensor, where, v)), ['bad-checkpoint'], [tensor, String(v)]));
    }
  }
  add(K, 'metadata config nested 100,000 levels deep', () => expectUserError(load(meta((m) => (m.config = `{"hidden": ${deep(100_000)}}`))), ['bad-checkpoint'], ['"config"', 'levels deep']));
  add(K, 'metadata config with a value nested 60 levels (message stays short)', () => expectUserError(load(meta((m) => (m.config = `{"hidden": ${deep(60)}}`))), ['bad-config'], ['"hidden"']));
  add(K, 'metadata vocab nested 100,000 levels deep', () => expectUserError(load(meta((m) => (m.vocab = deep(100_000)))), ['bad-checkpoint'], ['"vocab"', 'levels deep']));
  add(K, '__metadata__ nested 100,000 levels deep in the header', () => {
    const head = new TextEncoder().encode(`{"__metadata__": {"a": ${deep(100_000)}}}`);
    const b = new Uint8Array(8 + head.length);
    new DataView(b.buffer).setBigUint64(0, BigInt(head.length), true);
    b.set(head, 8);
    expectUserError(load(b), ['bad-checkpoint'], ['levels deep']);
  });
  add(K, 'an empty vocabulary', () => expectUserError(load(meta((m) => (m.vocab = '[]'))), ['bad-checkpoint'], ['"vocab"', 'empty']));
  add(K, 'a vocabulary listing a symbol twice', () => expectUserError(load(meta((m) => (m.vocab = JSON.stringify(['a', 'a', ...JSON.parse(m.vocab).slice(2)])))), ['bad-checkpoint'], ['"vocab"', 'twice']));
  add(K, 'a config claiming hidden 4096 x 8 layers: refused before allocating', () =>
    expectUserError(load(meta((m) => (m.config = JSON.stringify({ ...JSON.parse(m.config), hidden: 4096, layers: 8 })))), ['bad-checkpoint'], ['parameters']),
  );
  add(K, 'series metadata with a std of 0', () =>
    expectUserError(load(meta((m) => {
      delete m.vocab;
      m.series = JSON.stringify({ columns: ['v'], mean: [0], std: [0] });
    })), ['bad-checkpoint'], ['"series"', 'std']),
  );
  add(K, 'a dtype named "constructor"', () => {
    const d = decodeSafetensors(good);
    const head = JSON.parse(new TextDecoder().decode(good.subarray(8, 8 + Number(new DataView(good.buffer, good.byteOffset).getBigUint64(0, true)))));
    const first = Object.keys(head).find((k) => k !== '__metadata__')!;
    head[first].dtype = 'constructor';
    const text = new TextEncoder().encode(JSON.stringify(head));
    const rest = good.subarray(8 + Number(new DataView(good.buffer, good.byteOffset).getBigUint64(0, true)));
    const b = new Uint8Array(8 + text.length + rest.length);
    new DataView(b.buffer).setBigUint64(0, BigInt(text.length), true);
    b.set(text, 8);
    b.set(rest, 8 + text.length);
    assert.ok(d.tensors.size > 0);
    expectUserError(load(b), ['bad-checkpoint'], ['unknown dtype']);
  });

  const G = 'sampling';
  for (const T of [1e-3, 1e-30, 1e-300, 5e-324]) {
    add(G, `temperature ${T} draws the most likely symbol, whatever the seed`, () => {
      const probs = Float64Array.from([0.1, 0.45, 0.3, 0.15]);
      for (let seed = 0; seed < 50; seed++) assert.equal(drawFrom(probs, T, 0, new Rng(seed)), 1);
    });
  }
  add(G, 'a tiny temperature with a probability that underflowed to 0', () => {
    const probs = Float64Array.from([0, 1e-320, 0.6, 0.4, 0]);
    for (let seed = 0; seed < 20; seed++) assert.equal(drawFrom(probs, 1e-9, 0, new Rng(seed)), 2);
  });
  add(G, 'top-k 1 is greedy at any temperature', () => {
    const probs = Float64Array.from([0.2, 0.1, 0.7]);
    for (let seed = 0; seed < 20; seed++) assert.equal(drawFrom(probs, 50, 1, new Rng(seed)), 2);
  });
  add(G, 'temperature 1 keeps the distribution (control: frequencies within 3 sigma)', () => {
    const probs = Float64Array.from([0.5, 0.3, 0.2]);
    const counts = [0, 0, 0];
    const rng = new Rng(11);
    const n = 20_000;
    for (let i = 0; i < n; i++) counts[drawFrom(probs, 1, 0, rng)]++;
    probs.forEach((p, i) => assert.ok(Math.abs(counts[i] / n - p) < 3 * Math.sqrt((p * (1 - p)) / n), `symbol ${i}: ${counts[i] / n} vs ${p}`));
  });

  const J = 'JSON and messages';
  add(J, 'a value nested 100,000 levels is described in one short line', () => {
    let v: unknown = 1;
    for (let i = 0; i < 100_000; i++) v = [v];
    const s = describeValue(v);
    assert.ok(s.length < 80, s);
  });
  add(J, 'a config field holding an object nested 100,000 levels (built in code)', () => {
    let v: unknown = 1;
    for (let i = 0; i < 100_000; i++) v = { a: v };
    expectUserError(() => validateConfig({ hidden: v }, 'exp.rnn.json'), ['bad-config'], ['"hidden"']);
  });
  add(J, 'a 100 kB string value is not echoed', () => {
    const e = expectUserError(() => validateConfig({ cell: huge }, 'exp.rnn.json'), ['bad-config'], ['"cell"']);
    assert.ok(e.line.length <= 300, `${e.line.length}`);
  });
  add(J, 'an error line with a 100 kB file name stays under 300 characters', () => {
    const e = expectUserError(() => parseJson('{', `${huge}.json`, 'bad-config', 'Fix the JSON and try again.'), ['bad-config']);
    assert.ok(e.line.length <= 300, `${e.line.length}`);
  });
  add(J, 'V8 quotes of the text are not shown, and the message is one line', () => {
    const e = expectUserError(() => parseJson('hello\nworld "quoted"', 'c.json', 'bad-config', 'Fix the JSON and try again.'), ['bad-config'], ['c.json']);
    assert.ok(!e.message.includes('hello'), e.message);
  });
  add(J, 'a JSON error position becomes a line and column', () => {
    const e = expectUserError(() => parseJson('{\n  "a": 1,\n  "b": ]\n}', 'c.json', 'bad-config', 'Fix the JSON and try again.'), ['bad-config'], ['c.json']);
    assert.match(e.message, /line 3, column \d+|unexpected character/);
  });
  add(J, 'a BOM is accepted (accepted)', () => assert.deepEqual(parseJson('\ufeff{"a": 1}', 'c.json', 'bad-config', 'Fix the JSON and try again.'), { a: 1 }));
  add(J, 'nesting exactly at the limit is accepted (control)', () => assert.ok(Array.isArray(parseJson(deep(MAX_JSON_DEPTH), 'c.json', 'bad-config', 'Fix the JSON and try again.'))));
  add(J, 'brackets inside strings do not count as nesting (accepted)', () => assert.equal((parseJson(`{"a": "${'['.repeat(1000)}"}`, 'c.json', 'bad-config', 'Fix the JSON and try again.') as { a: string }).a.length, 1000));

  const V = 'CSV statistics';
  const rows = (f: (i: number) => string) => `t,v\n${Array.from({ length: 60 }, (_, i) => `${i},${f(i)}`).join('\n')}\n`;
  add(V, 'values of 1.7e308 (the mean overflows)', () => expectUserError(() => seriesDataset(rows(() => '1.7e308'), 's.csv', undefined, 0.05, 10), ['bad-csv'], ['s.csv', '"v"', 'mean']));
  add(V, 'values of +-1e200 (the variance overflows)', () => expectUserError(() => seriesDataset(rows((i) => (i % 2 ? '1e200' : '-1e200')), 's.csv', undefined, 0.05, 10), ['bad-csv'], ['s.csv', 'variance']));
  add(V, 'values of 1e150 still normalise (accepted)', () => {
    const ds = seriesDataset(rows((i) => `${i}e150`), 's.csv', undefined, 0.05, 10);
    assert.ok(ds.train.every(Number.isFinite) && Math.abs(ds.train[1] - ds.train[0]) > 0.01);
  });
  add(V, 'a duplicate column picked by name', () => expectUserError(() => seriesDataset('a,a\n' + '1,2\n'.repeat(40), 's.csv', ['a'], 0.05, 10), ['bad-csv'], ['s.csv', 'ambiguous']));
  add(V, 'a duplicate column picked by index (accepted)', () => assert.equal(seriesDataset('a,a\n' + '1,2\n3,5\n'.repeat(20), 's.csv', [1], 0.05, 10).channels, 1));
  add(V, 'a model too big for memory from the data: refused by datasetFor', () =>
    expectUserError(() => datasetFor({ ...DEFAULT_CONFIG, data: 'v.txt', hidden: 4096, layers: 8, seqLength: 4, batch: 1 }, prose.repeat(5)), ['too-large'], ['v.txt', 'GiB']),
  );
  add(V, 'a cell of spaces is missing, not 0', () => expectUserError(() => seriesDataset(rows((i) => (i === 7 ? '   ' : String(i))), 's.csv', undefined, 0.05, 10), ['bad-csv'], ['s.csv', 'row 9', 'missing']));
  for (const cell of ['0x10', '0b11', '0o7', '1_000', '12abc']) {
    add(V, `a cell ${JSON.stringify(cell)} is not read as a number`, () => expectUserError(() => seriesDataset(rows((i) => (i === 3 ? cell : String(i))), 's.csv', undefined, 0.05, 10), ['bad-csv'], ['s.csv', 'row 5', 'not a finite number']));
  }
  add(V, 'cells with spaces around decimals are read (accepted)', () => assert.equal(seriesDataset(rows((i) => ` ${i}.5 `), 's.csv', undefined, 0.05, 10).mean[0] > 0, true));

  // Write errors: the cause a user can act on, naming the file.
  const W = 'write errors';
  const errno = (code: string) => Object.assign(new Error(`${code}: raw node message, open '/x'`), { code });
  const causes: [string, string][] = [
    ['ENOSPC', 'disk full while writing run/checkpoint.safetensors'],
    ['EDQUOT', 'disk full while writing run/checkpoint.safetensors'],
    ['EACCES', 'permission denied writing run/checkpoint.safetensors'],
    ['EPERM', 'permission denied writing run/checkpoint.safetensors'],
    ['EISDIR', 'run/checkpoint.safetensors is a folder'],
    ['ENAMETOOLONG', 'too long'],
    ['EROFS', 'read-only file system'],
    ['ENOTDIR', 'is a file, not a folder'],
    ['EMFILE', 'too many open files'],
    ['EIO', 'input/output error'],
  ];
  for (const [code, expected] of causes) {
    add(W, `${code} reads as "${expected}"`, () => {
      const e = fileProblem(errno(code), 'run/checkpoint.safetensors', 'writing');
      assert.ok(e.line.includes(expected), e.line);
      assert.ok(!e.line.includes('raw node message'), e.line);
    });
  }
  add(W, 'export to a full disk: "disk full while writing", no partial file left (tmpfs when root)', () => {
    const dir = setup({}, true);
    const disk = join(dir, 'disk');
    mkdirSync(disk);
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', disk], { stdio: 'ignore' });
    } catch {
      console.log('      (skipped the full-disk half: mounting a tmpfs needs root)');
      return;
    }
    try {
      writeFileSync(join(disk, 'filler'), Buffer.alloc(60 * 1024));
      const r = run(dir, ['export', 'run', '--out', 'disk/e.safetensors']);
      assertRefusalLine(r, ['disk full while writing disk/e.safetensors']);
      assert.deepEqual(readdirSync(disk), ['filler']);
    } finally {
      execFileSync('umount', [disk]);
    }
  });
  return cases;
}

/** A checkpoint with one value of one tensor replaced (e.g. by NaN), everything else as it was. */
function withTensorValue(bytes: Uint8Array, tensor: string, index: number, value: number): Uint8Array {
  const d = decodeSafetensors(bytes);
  const tensors = [...d.tensors].map(([name, t]) => {
    const data = Float64Array.from(t.data);
    if (name === tensor) data[index] = value;
    return { name, shape: t.shape, data };
  });
  return encodeSafetensors(tensors, d.metadata);
}

/** Rewrites every record of a JSONL file. */
function rewriteJsonl(path: string, edit: (r: Record<string, unknown>) => unknown): void {
  const lines = readFileSync(path, 'utf8').split('\n').filter((l) => l.trim() !== '');
  writeFileSync(path, lines.map((l) => JSON.stringify(edit(JSON.parse(l))) + '\n').join(''));
}
