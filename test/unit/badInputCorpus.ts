/**
 * The bad-input corpus: generated cases for every entry point that takes a user's input (data
 * files, run configs, CLI flags, checkpoints, webview messages and run ids). Each case runs the
 * real code on its input and throws if the outcome is not a clear refusal (what is wrong, where,
 * what to do) or, for inputs that must be accepted (CRLF, a UTF-8 BOM, unknown keys), not the right
 * result. badInput.test.ts runs them all and counts.
 *
 * To add an entry point: push cases into `corpus` with a group name; use expectUserError() for
 * thrown EngineErrors and expectCliRefusal() for a command line.
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_CONFIG, resolveDataPath, validateConfig } from '../../src/engine/config';
import { decodeText, seriesDataset, textDataset } from '../../src/engine/data';
import { EngineError, type ErrorCode } from '../../src/engine/errors';
import { loadCheckpoint } from '../../src/engine/checkpoint';
import { encodeSafetensors } from '../../src/engine/safetensors';
import { checkpointBytes, datasetFor } from '../../src/engine/session';
import { Trainer } from '../../src/engine/trainer';
import { Rng } from '../../src/engine/random';
import { runIdProblem } from '../../src/extension/webviewMessages';
import { checkFromPanel, MAX_EXPORT_CHARS } from '../../src/extension/panelMessages';
import type { RunConfig } from '../../src/protocol/config';

export interface BadInputCase {
  group: string;
  name: string;
  run: () => void | Promise<void>;
}

export const repoRoot = join(__dirname, '../..');
/** The CLI under test (RNN_LAB_TEST_CLI points the corpus at another build, e.g. to measure an older one). */
export const cli = process.env.RNN_LAB_TEST_CLI ?? join(repoRoot, 'dist/cli.js');

/**
 * The refusal a user should see: an EngineError of one of `codes` whose message names the place
 * (`mentions`, e.g. the file, line, column or field) and whose hint says what to do, each one line.
 */
export function expectUserError(fn: () => unknown, codes: ErrorCode[], mentions: string[] = []): EngineError {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  assert.ok(thrown !== undefined, 'no error: the bad input was accepted');
  assert.ok(thrown instanceof EngineError, `not an EngineError: ${(thrown as Error)?.stack ?? thrown}`);
  const e = thrown as EngineError;
  assert.ok(codes.includes(e.code), `error code ${e.code}, expected ${codes.join(' or ')}: ${e.line}`);
  assertOneClearLine(e.message, 'message');
  assertOneClearLine(e.hint, 'hint');
  assert.match(e.hint, /^[A-Z]/, `the hint does not read as an instruction: ${e.hint}`);
  for (const m of mentions) assert.ok(e.message.includes(m), `the message does not say where (${JSON.stringify(m)}): ${e.message}`);
  return e;
}

function assertOneClearLine(text: string, what: string): void {
  assert.ok(text.trim().length >= 8, `${what} is empty or too short: ${JSON.stringify(text)}`);
  assert.ok(!/[\r\n]/.test(text), `${what} spans several lines: ${JSON.stringify(text)}`);
  assert.ok(text.length < 400, `${what} is ${text.length} characters long`);
  assert.ok(!/\bat .+:\d+:\d+\)?$/m.test(text), `${what} holds a stack trace`);
}

/** A scratch folder for one CLI case. */
export function scratch(prefix = 'rnn-lab-bad-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/**
 * Runs `rnn-lab train ...` in `cwd` and expects a refusal: exit code 2, nothing on stdout, exactly
 * one line on stderr that starts "rnn-lab: " and mentions `mentions`, and no run directory made
 * (neither .rnn-lab/ in cwd nor the --out folder).
 */
export function expectCliRefusal(cwd: string, args: string[], mentions: string[]): void {
  const out = join(cwd, 'out-run');
  const before = readdirSync(cwd).sort();
  const r = spawnSync(process.execPath, [cli, ...args, '--out', out], { cwd, encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.error, undefined, `spawn failed: ${r.error}`);
  assert.equal(r.signal, null, `killed by ${r.signal} (hang?)`);
  const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
  assert.equal(r.status, 2, `exit code ${r.status}; stderr: ${r.stderr}; stdout: ${r.stdout}`);
  assert.equal(r.stdout, '', `printed on stdout: ${r.stdout}`);
  assert.equal(lines.length, 1, `expected one stderr line, got ${lines.length}: ${r.stderr}`);
  assert.match(lines[0], /^rnn-lab: \S/);
  assert.ok(lines[0].length < 400, `stderr line is ${lines[0].length} characters`);
  for (const m of mentions) assert.ok(lines[0].includes(m), `stderr does not mention ${JSON.stringify(m)}: ${lines[0]}`);
  assert.ok(!existsSync(out), 'the --out run directory was created');
  assert.deepEqual(readdirSync(cwd).sort(), before, 'files appeared in the working directory');
}

// ---------------------------------------------------------------------------------------------
// Data files: decodeText (the bytes) and textDataset / seriesDataset (the content).

const enc = (s: string) => new TextEncoder().encode(s);
const bytes = (...parts: (number[] | string)[]) => Uint8Array.from(parts.flatMap((p) => (typeof p === 'string' ? [...enc(p)] : p)));
const cap = DEFAULT_CONFIG.maxFileBytes;

function dataCases(): BadInputCase[] {
  const cases: BadInputCase[] = [];
  const add = (name: string, run: () => void) => cases.push({ group: 'data file', name, run });
  const refusedBytes = (name: string, b: Uint8Array, codes: ErrorCode[], mentions: string[]) =>
    add(name, () => expectUserError(() => decodeText(b, 'in.txt', cap), codes, ['in.txt', ...mentions]));

  refusedBytes('empty file', new Uint8Array(0), ['empty-file'], ['empty']);
  add('one character', () => {
    const text = decodeText(enc('a'), 'one.txt', cap);
    expectUserError(() => textDataset(text, 'one.txt', 0.05, 51 * 16), ['too-short'], ['one.txt', '1 character']);
  });
  add('only newlines, as a CSV', () => {
    const text = decodeText(enc('\n\n\r\n\n'), 'blank.csv', cap);
    expectUserError(() => seriesDataset(text, 'blank.csv', undefined, 0.05, 10), ['empty-file'], ['blank.csv']);
  });
  const prose = 'It is a truth universally acknowledged, that a single man in possession of a good fortune. ';
  for (const at of [0, 1, 100, 4095, 4096 * 3 + 7]) {
    const b = enc(prose.repeat(200));
    b[at] = 0;
    refusedBytes(`NUL byte at offset ${at}`, b, ['binary-file'], [`offset ${at}`]);
  }
  const rng = new Rng(2024);
  const noise = (n: number) => Array.from({ length: n }, () => Math.floor(rng.uniform() * 256));
  const magic: [string, number[]][] = [
    ['PNG', [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, 0x49, 0x48, 0x44, 0x52]],
    ['JPEG', [0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00]],
    ['GIF', [...enc('GIF89a'), 0x01, 0x00, 0x01, 0x00, 0x80]],
    ['ZIP', [0x50, 0x4b, 0x03, 0x04, 0x14, 0x00]],
    ['PDF with a binary stream', [...enc('%PDF-1.7\n'), 0xe2, 0xe3, 0xcf, 0xd3]],
    ['gzip', [0x1f, 0x8b, 0x08, 0x00]],
    ['ELF executable', [0x7f, 0x45, 0x4c, 0x46, 0x02, 0x01, 0x01, 0x00]],
    ['safetensors checkpoint given as data', [0x40, 0, 0, 0, 0, 0, 0, 0, ...enc('{"__metadata__":{}}')]],
  ];
  for (const [kind, head] of magic) {
    refusedBytes(`${kind} file`, Uint8Array.from([...head, ...noise(2000)]), ['binary-file', 'invalid-utf8'], ['offset']);
  }
  refusedBytes('random bytes without NUL', Uint8Array.from(noise(5000).map((v) => v || 0xff)), ['invalid-utf8', 'binary-file'], ['offset']);
  const invalid: [string, number[]][] = [
    ['lone continuation byte 0x80', [0x80]],
    ['overlong "/" (C0 AF)', [0xc0, 0xaf]],
    ['overlong 3-byte NUL (E0 80 80)', [0xe0, 0x80, 0x80]],
    ['UTF-16 surrogate (ED A0 80)', [0xed, 0xa0, 0x80]],
    ['code point above U+10FFFF (F4 90 80 80)', [0xf4, 0x90, 0x80, 0x80]],
    ['byte F5', [0xf5, 0x80, 0x80, 0x80]],
    ['byte FE', [0xfe]],
    ['byte FF', [0xff]],
    ['Latin-1 e-acute (E9)', [0xe9]],
    ['Windows-1252 curly quote (93)', [0x93]],
    ['2-byte lead then ASCII', [0xc3, 0x41]],
  ];
  for (const [kind, seq] of invalid) {
    for (const where of ['start', 'middle']) {
      const pre = where === 'start' ? [] : [...enc('Elizabeth Bennet ')];
      refusedBytes(`invalid UTF-8 at the ${where}: ${kind}`, bytes(pre, seq, ' and more text'), ['invalid-utf8'], [`offset ${pre.length}`]);
    }
  }
  refusedBytes('UTF-8 sequence cut at the end of the file (E2 82)', bytes('price: ', [0xe2, 0x82]), ['invalid-utf8'], ['offset 7']);
  const utf16 = (be: boolean, s: string) => {
    const out = [be ? 0xfe : 0xff, be ? 0xff : 0xfe];
    for (const ch of s) out.push(...(be ? [0, ch.charCodeAt(0)] : [ch.charCodeAt(0), 0]));
    return Uint8Array.from(out);
  };
  refusedBytes('UTF-16 LE with BOM', utf16(false, prose), ['invalid-utf8'], ['UTF-16']);
  refusedBytes('UTF-16 BE with BOM', utf16(true, prose), ['invalid-utf8'], ['UTF-16']);
  refusedBytes('UTF-16 LE without BOM', utf16(false, prose).subarray(2), ['binary-file'], ['offset 1']);
  refusedBytes('UTF-32 LE with BOM', Uint8Array.from([0xff, 0xfe, 0, 0, 0x41, 0, 0, 0]), ['invalid-utf8', 'binary-file'], []);
  add('over the size cap (in memory)', () => expectUserError(() => decodeText(new Uint8Array(1025), 'big.txt', 1024), ['too-large'], ['big.txt', 'size cap']));

  // Inputs that are not errors: they must decode to the right text.
  add('CRLF line ends train like LF (accepted)', () => {
    const text = decodeText(enc('one\r\ntwo\r\nthree\r\n'), 'crlf.txt', cap);
    assert.equal(text, 'one\ntwo\nthree\n');
    const ds = textDataset(text.repeat(20), 'crlf.txt', 0.1, 10);
    assert.ok(!ds.vocab.includes('\r'), 'a CR made it into the vocabulary');
  });
  add('old Mac CR line ends (accepted)', () => assert.equal(decodeText(enc('a\rb\r'), 'cr.txt', cap), 'a\nb\n'));
  add('UTF-8 BOM is dropped (accepted)', () => assert.equal(decodeText(bytes([0xef, 0xbb, 0xbf], 'abc'), 'bom.txt', cap), 'abc'));
  add('4-byte UTF-8 (emoji) counts as one symbol (accepted)', () => {
    const ds = textDataset(decodeText(enc('ab\u{1F600}'.repeat(50)), 'emoji.txt', cap), 'emoji.txt', 0.1, 10);
    assert.deepEqual(ds.vocab, ['a', 'b', '\u{1F600}']);
  });
  add('CRLF CSV (accepted)', () => {
    const text = decodeText(enc('t,value\r\n' + Array.from({ length: 40 }, (_, i) => `${i},${i * 2}\r\n`).join('')), 'crlf.csv', cap);
    const ds = seriesDataset(text, 'crlf.csv', ['value'], 0.1, 10);
    assert.equal(ds.train.length + ds.val.length, 40);
  });

  // CSV content.
  const rows = (n: number, f: (i: number) => string) => Array.from({ length: n }, (_, i) => f(i)).join('\n');
  const csvRefused = (name: string, text: string, columns: (string | number)[] | undefined, mentions: string[], codes: ErrorCode[] = ['bad-csv']) =>
    add(`CSV: ${name}`, () => expectUserError(() => seriesDataset(text, 'series.csv', columns, 0.05, 10), codes, ['series.csv', ...mentions]));
  const good = (i: number) => `${1900 + i},${(i * 1.5).toFixed(1)}`;
  for (const at of [0, 17, 39]) {
    csvRefused(`missing cell on data row ${at + 1}`, `year,value\n${rows(40, (i) => (i === at ? `${1900 + i},` : good(i)))}`, ['value'], [`row ${at + 2}`, 'column "value"', 'missing']);
  }
  csvRefused('quoted empty cell', `year,value\n${rows(40, (i) => (i === 5 ? `${1900 + i},""` : good(i)))}`, ['value'], ['row 7', 'missing']);
  for (const cell of ['abc', 'twelve', '1e', '1,5 (quoted)', '0x1g', '--3', '1.2.3', '$100']) {
    const text = cell === '1,5 (quoted)' ? '"1,5"' : cell;
    csvRefused(`text cell ${JSON.stringify(cell)}`, `year,value\n${rows(30, (i) => (i === 9 ? `${1900 + i},${text}` : good(i)))}`, ['value'], ['row 11', 'column "value"', 'not a finite number']);
  }
  for (const cell of ['NaN', 'nan', 'Infinity', '-Infinity', 'inf', '1e999', '-1e400']) {
    csvRefused(`non-finite cell ${cell}`, `year,value\n${rows(30, (i) => (i === 3 ? `${1900 + i},${cell}` : good(i)))}`, ['value'], ['row 5', 'not a finite number']);
  }
  csvRefused('header only', 'year,value\n', ['value'], ['no data rows'], ['empty-file']);
  csvRefused('one row', `year,value\n${good(0)}\n`, ['value'], ['1 rows'], ['too-short']);
  csvRefused('ragged row with a cell too many', `year,value\n${rows(30, (i) => (i === 12 ? `${1900 + i},1,234` : good(i)))}`, ['value'], ['line 14', '3 cells', 'header has 2']);
  csvRefused('ragged row with a cell too few', `year,month,value\n${rows(30, (i) => (i === 4 ? `${1900 + i},7` : `${good(i)},1`))}`, ['value'], ['line 6', '2 cells', 'header has 3']);
  csvRefused('column that does not exist (by name)', `year,value\n${rows(30, good)}`, ['price'], ['"price"', 'year, value']);
  csvRefused('column that does not exist (by index)', `year,value\n${rows(30, good)}`, [7], ['column 7']);
  csvRefused('column name differing in case', `year,value\n${rows(30, good)}`, ['Value'], ['"Value"']);
  csvRefused('text column picked', `name,value\n${rows(30, (i) => `city${i},${i}`)}`, ['name'], ['column "name"', 'not a finite number']);
  csvRefused('unterminated quote', `year,value\n${rows(30, (i) => (i === 2 ? `${1900 + i},"12` : good(i)))}`, ['value'], ['line 4', 'never closed']);
  add('CSV: text file with no numbers, as a series', () =>
    expectUserError(() => datasetFor({ ...DEFAULT_CONFIG, task: 'forecast', data: 'story.txt', seqLength: 5, batch: 1 }, `${prose}\n`.repeat(40)), ['bad-csv', 'empty-file'], ['story.txt']),
  );
  add('text too short for seq x batch', () =>
    expectUserError(() => datasetFor({ ...DEFAULT_CONFIG, data: 'short.txt', seqLength: 100, batch: 32 }, prose), ['too-short'], ['short.txt', '91 characters', '(3403)']),
  );
  return cases;
}

// ---------------------------------------------------------------------------------------------
// Run configs: validateConfig over every field.

const numericWrong: [string, unknown][] = [
  ['a string', '5'],
  ['a boolean', true],
  ['null', null],
  ['a list', [1]],
  ['an object', { value: 1 }],
  ['NaN', NaN],
  ['Infinity', Infinity],
];

function configCases(): BadInputCase[] {
  const cases: BadInputCase[] = [];
  const add = (name: string, run: () => void) => cases.push({ group: 'run config', name, run });
  const refused = (name: string, raw: unknown, mentions: string[]) =>
    add(name, () => expectUserError(() => validateConfig(raw, 'exp.rnn.json'), ['bad-config'], ['exp.rnn.json', ...mentions]));
  const { config: defaults } = validateConfig({});
  for (const [key, value] of Object.entries(defaults)) {
    if (typeof value === 'number') {
      for (const [what, bad] of numericWrong) refused(`${key}: ${what}`, { [key]: bad }, [`"${key}"`, 'finite number']);
    } else if (key === 'srcLen') {
      refused(`${key}: a number`, { [key]: 3 }, [`"${key}"`, 'lo-hi']);
      refused(`${key}: backwards`, { [key]: '10-5' }, [`"${key}"`, 'lo <= hi', '"10-5"']);
      refused(`${key}: not a range`, { [key]: 'transformer' }, [`"${key}"`, 'lo-hi', '"transformer"']);
    } else if (key === 'alphabet') {
      refused(`${key}: a number`, { [key]: 3 }, [`"${key}"`, 'string']);
    } else if (typeof value === 'string' && key !== 'name' && key !== 'data') {
      refused(`${key}: a number`, { [key]: 3 }, [`"${key}"`, 'one of']);
      refused(`${key}: unknown value`, { [key]: 'transformer' }, [`"${key}"`, 'one of', '"transformer"']);
      refused(`${key}: wrong case`, { [key]: value.toUpperCase() }, [`"${key}"`, 'one of']);
    } else if (key === 'name' || key === 'data') {
      refused(`${key}: a number`, { [key]: 42 }, [`"${key}"`, 'string']);
      refused(`${key}: null`, { [key]: null }, [`"${key}"`, 'string']);
    }
  }
  // Ranges: zero, negative, fractional, and beyond the top of each numeric field.
  const range: [string, number, string][] = [
    ['hidden', 0, 'between'], ['hidden', -5, 'between'], ['hidden', 100_000, 'between'], ['hidden', 12.5, 'whole number'],
    ['layers', 0, 'between'], ['layers', 9, 'between'], ['seqLength', 0, 'between'], ['seqLength', -1, 'between'],
    ['batch', 0, 'between'], ['batch', 1e6, 'between'], ['steps', 0, 'between'], ['steps', -100, 'between'],
    ['lr', -0.01, 'between'], ['lr', 0, 'between'], ['lr', 1000, 'between'], ['dropout', 1, 'between'],
    ['dropout', -0.1, 'between'], ['clip', 0, 'between'], ['clip', -5, 'between'], ['momentum', 1, 'between'],
    ['valFraction', 0.9, 'between'], ['embedding', -1, 'between'], ['seed', -1, 'between'], ['seed', 2 ** 33, 'between'],
    ['maxFileBytes', 0, 'between'], ['hiddenScale', -1, 'between'], ['lrDecay', 0, 'between'], ['evalEvery', -1, 'between'],
  ];
  for (const [key, v, what] of range) refused(`${key} = ${v}`, { [key]: v }, [`"${key}"`, what, `got ${v}`]);
  refused('lr = -Infinity', { lr: -Infinity }, ['"lr"', 'got -Infinity']);
  refused('lr = NaN says NaN', { lr: NaN }, ['"lr"', 'got NaN']);
  for (const cell of ['LSTM ', 'transformer', 'gru2', 'vanilla', '']) refused(`cell name ${JSON.stringify(cell)}`, { cell }, ['"cell"', 'rnn, lstm, gru']);
  for (const [what, columns] of [['a string', 'value'], ['negative index', [-1]], ['fractional index', [1.5]], ['an object inside', [{}]], ['null inside', [null]]] as [string, unknown][]) {
    refused(`columns: ${what}`, { columns }, ['"columns"', 'column names']);
  }
  for (const [what, raw] of [['null', null], ['a list', [{ cell: 'lstm' }]], ['a string', 'lstm'], ['a number', 3], ['true', true]] as [string, unknown][]) {
    refused(`the whole config is ${what}`, raw, ['not a JSON object']);
  }
  refused('name of 10,000 characters', { name: 'x'.repeat(10_000) }, ['"name"', 'at most 100']);
  refused('data path of 100,000 characters', { data: 'd/'.repeat(50_000) }, ['"data"', 'at most 4096']);
  // Keys that exist on every object's prototype must not sneak past the rules.
  add('"__proto__" key cannot smuggle fields', () => {
    const raw = JSON.parse('{"__proto__": {"columns": "not-a-list", "hidden": 3}, "cell": "gru"}');
    const { config, warnings } = validateConfig(raw, 'exp.rnn.json');
    assert.equal((config as { columns?: unknown }).columns, undefined);
    assert.equal(config.hidden, DEFAULT_CONFIG.hidden);
    assert.equal(Object.getPrototypeOf(config), Object.prototype);
    assert.ok(warnings.some((w) => w.includes('"__proto__"')), warnings.join('; '));
  });
  for (const key of ['constructor', 'toString', 'hasOwnProperty', 'valueOf']) {
    add(`"${key}" key is an unknown key (warning)`, () => {
      const { config, warnings } = validateConfig({ [key]: 5, cell: 'rnn' }, 'exp.rnn.json');
      assert.equal(config.cell, 'rnn');
      assert.ok(warnings.some((w) => w.includes(`"${key}"`)), warnings.join('; '));
      assert.doesNotThrow(() => `${JSON.stringify(config)}`);
    });
  }
  // Unknown keys warn (a config from a newer version still runs), with the likely intended key.
  for (const [key, near] of [['hiden', 'hidden'], ['learningRate', undefined], ['Cell', 'cell'], ['seq_length', 'seqLength'], ['optimiser', 'optimizer']] as [string, string | undefined][]) {
    add(`unknown key "${key}" warns, not errors`, () => {
      const { config, warnings } = validateConfig({ [key]: 1, cell: 'gru' }, 'exp.rnn.json');
      assert.equal(config.cell, 'gru');
      assert.equal(warnings.length, 1);
      assert.match(warnings[0], new RegExp(`exp\\.rnn\\.json: unknown key "${key}" ignored`));
      if (near) assert.ok(warnings[0].includes(`did you mean "${near}"`), warnings[0]);
    });
  }
  // Data paths: resolved against the config's folder; never outside the workspace.
  const outside: [string, string, string][] = [
    ['', '../secret.txt', 'outside the workspace'],
    ['', '../../etc/passwd', 'outside the workspace'],
    ['sub', '../../x.txt', 'outside the workspace'],
    ['a/b', '../../../x.txt', 'outside the workspace'],
    ['', 'data/../../x.txt', 'outside the workspace'],
    ['', '/etc/passwd', 'absolute path'],
    ['', '~/notes.txt', 'absolute path'],
    ['', 'C:/Users/me/data.txt', 'URI or drive'],
    ['', 'file:///etc/passwd', 'URI or drive'],
    ['', 'https://example.com/data.txt', 'URI or drive'],
    ['', '..\\secret.txt', 'backslash'],
    ['', 'data\0.txt', 'NUL'],
    ['', '', 'empty'],
    ['', '   ', 'empty'],
    ['', '.', 'folder'],
    ['sub', '..', 'folder'],
  ];
  for (const [dir, data, what] of outside) {
    add(`data path ${JSON.stringify(data)} from ${JSON.stringify(dir || '<root>')}`, () => expectUserError(() => resolveDataPath(dir, data, 'exp.rnn.json'), ['bad-config'], ['exp.rnn.json', '"data"', what]));
  }
  const inside: [string, string, string][] = [
    ['', 'tiny.txt', 'tiny.txt'],
    ['configs', '../data/tiny.txt', 'data/tiny.txt'],
    ['a/b', './../c/./d.txt', 'a/c/d.txt'],
    ['', 'data//x.csv', 'data/x.csv'],
  ];
  for (const [dir, data, expected] of inside) {
    add(`data path ${JSON.stringify(data)} from ${JSON.stringify(dir || '<root>')} stays inside (accepted)`, () => assert.equal(resolveDataPath(dir, data, 'exp.rnn.json'), expected));
  }
  return cases;
}

// ---------------------------------------------------------------------------------------------
// The command line: flags become a config; every refusal is exit 2, one line, no run directory.

function cliCases(): BadInputCase[] {
  const cases: BadInputCase[] = [];
  const add = (name: string, run: () => void) => cases.push({ group: 'CLI', name, run });
  const text = 'It is a truth universally acknowledged, that a single man in possession of a good fortune. '.repeat(40);
  const withFiles = (files: Record<string, string | Uint8Array>) => {
    const dir = scratch();
    for (const [name, content] of Object.entries(files)) {
      if (name.endsWith('/')) mkdirSync(join(dir, name));
      else writeFileSync(join(dir, name), content);
    }
    return dir;
  };
  const refused = (name: string, args: string[], mentions: string[], files: Record<string, string | Uint8Array> = { 'in.txt': text }) =>
    add(name, () => expectCliRefusal(withFiles(files), ['train', ...args], mentions));
  const flags: [string, string, string[]][] = [
    ['--hidden', 'abc', ['--hidden', 'number', '"abc"']],
    ['--hidden', '0', ['"hidden"', 'between']],
    ['--hidden', '-5', ['"hidden"', 'between']],
    ['--hidden', '100000', ['"hidden"', 'between', '100000']],
    ['--hidden', '12.5', ['"hidden"', 'whole number']],
    ['--seq', '0', ['"seqLength"', 'between']],
    ['--batch', '0', ['"batch"', 'between']],
    ['--steps', '-1', ['"steps"', 'between']],
    ['--lr', 'NaN', ['--lr', 'number']],
    ['--lr', 'Infinity', ['"lr"', 'got Infinity']],
    ['--lr', '-0.1', ['"lr"', 'between']],
    ['--lr', '', ['--lr', 'number']],
    ['--cell', 'transformer', ['"cell"', 'rnn, lstm, gru']],
    ['--optim', 'lion', ['"optimizer"', 'one of']],
    ['--clip-mode', 'soft', ['"clipMode"', 'one of']],
    ['--layers', '99', ['"layers"', 'between']],
    ['--dropout', '2', ['"dropout"', 'between']],
    ['--seed', '-3', ['"seed"', 'between']],
    ['--max-file-bytes', '0', ['"maxFileBytes"', 'between']],
    ['--name', 'x'.repeat(300), ['"name"', 'at most 100']],
  ];
  for (const [flag, value, mentions] of flags) refused(`${flag} ${JSON.stringify(value.slice(0, 20))}`, ['in.txt', flag, value], mentions);
  refused('unknown flag', ['in.txt', '--hiddden', '8'], ['--hiddden', 'unknown option']);
  refused('flag without a value', ['in.txt', '--hidden'], ['--hidden needs a value']);
  refused('flag followed by another flag', ['in.txt', '--hidden', '--seq', '5'], ['--hidden needs a value']);
  refused('no data file', [], ['exactly one data FILE']);
  refused('two data files', ['in.txt', 'in2.txt'], ['exactly one data FILE']);
  refused('data file that does not exist', ['nope.txt'], ['nope.txt', 'does not exist']);
  refused('a folder as the data file', ['sub'], ['sub', 'is a folder, not a regular file'], { 'in.txt': text, 'sub/': '' });
  refused('empty data file', ['empty.txt'], ['empty.txt', 'empty'], { 'empty.txt': '' });
  refused('binary data file', ['img.png'], ['img.png', 'binary'], { 'img.png': Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]) });
  refused('UTF-16 data file', ['u16.txt'], ['u16.txt', 'UTF-16'], { 'u16.txt': Uint8Array.from([0xff, 0xfe, 0x41, 0, 0x42, 0]) });
  refused('data file over --max-file-bytes', ['in.txt', '--max-file-bytes', '100'], ['in.txt', 'size cap']);
  refused('text too short for the chunk', ['in.txt', '--seq', '5000', '--batch', '64'], ['in.txt', 'fewer than one training chunk']);
  refused('CSV column that does not exist', ['s.csv', '--columns', 'price'], ['s.csv', '"price"'], { 's.csv': `t,value\n${Array.from({ length: 80 }, (_, i) => `${i},${i}`).join('\n')}\n` });
  refused('CSV with a NaN cell', ['s.csv'], ['s.csv', 'row 4', 'not a finite number'], { 's.csv': `t,value\n1,2\n2,3\n3,NaN\n${Array.from({ length: 80 }, (_, i) => `${i},${i}`).join('\n')}\n` });
  refused('--config that does not exist', ['in.txt', '--config', 'none.rnn.json'], ['none.rnn.json']);
  refused('--config with invalid JSON', ['in.txt', '--config', 'c.rnn.json'], ['c.rnn.json', 'JSON'], { 'in.txt': text, 'c.rnn.json': '{"hidden": 8,,}' });
  refused('--config with a wrong type', ['in.txt', '--config', 'c.rnn.json'], ['c.rnn.json', '"hidden"'], { 'in.txt': text, 'c.rnn.json': '{"hidden": "big"}' });
  refused('--config that is a list', ['in.txt', '--config', 'c.rnn.json'], ['c.rnn.json', 'not a JSON object'], { 'in.txt': text, 'c.rnn.json': '[1,2]' });
  add('--out that already holds a run is refused and kept', () => {
    const dir = withFiles({ 'in.txt': text });
    const out = join(dir, 'prev');
    const first = spawnSync(process.execPath, [cli, 'train', 'in.txt', '--hidden', '4', '--seq', '4', '--batch', '1', '--steps', '2', '--out', out], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
    assert.equal(first.status, 0, first.stderr);
    const kept = readdirSync(out).sort();
    const r = spawnSync(process.execPath, [cli, 'train', 'in.txt', '--hidden', '4', '--steps', '1', '--out', out], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 2);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /already holds a run/);
    assert.deepEqual(readdirSync(out).sort(), kept);
  });
  add('--out inside a file is refused in one line', () => {
    const dir = withFiles({ 'in.txt': text, 'afile': 'x' });
    const r = spawnSync(process.execPath, [cli, 'train', 'in.txt', '--hidden', '4', '--seq', '4', '--batch', '1', '--steps', '1', '--out', 'afile/run'], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 2, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /^rnn-lab: a part of afile\/run is a file, not a folder/);
  });
  add('unknown key in --config warns and trains (accepted)', () => {
    const dir = withFiles({ 'in.txt': text, 'c.rnn.json': '{"hiden": 8, "hidden": 4, "seqLength": 4, "batch": 1, "steps": 2}' });
    const r = spawnSync(process.execPath, [cli, 'train', 'in.txt', '--config', 'c.rnn.json', '--out', 'run'], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /^warning: c\.rnn\.json: unknown key "hiden" ignored \(did you mean "hidden"\?\)$/m);
    assert.ok(existsSync(join(dir, 'run', 'checkpoint.safetensors')));
  });
  add('CRLF text trains (accepted)', () => {
    const dir = withFiles({ 'crlf.txt': text.replace(/\. /g, '.\r\n') });
    const r = spawnSync(process.execPath, [cli, 'train', 'crlf.txt', '--hidden', '4', '--seq', '4', '--batch', '1', '--steps', '2', '--out', 'run'], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /finished at step 2/);
  });
  return cases;
}

// ---------------------------------------------------------------------------------------------
// Checkpoints: a real one from a short run, then corrupted every way.

/** A real checkpoint: a tiny LSTM trained 3 steps. */
export function realCheckpoint(): Uint8Array {
  const config: RunConfig = { ...DEFAULT_CONFIG, name: 'ck', data: 'ck.txt', cell: 'lstm', hidden: 6, seqLength: 5, batch: 2, steps: 3, diagEvery: 0, spectrumEvery: 0 };
  const trainer = new Trainer(config, datasetFor(config, 'abcdefghij klmnop qrstuv wxyz. '.repeat(10)));
  for (let i = 0; i < 3; i++) trainer.trainStep(false, false);
  return checkpointBytes(trainer);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function headerOf(b: Uint8Array): { json: Record<string, any>; dataStart: number } {
  const n = Number(new DataView(b.buffer, b.byteOffset, b.byteLength).getBigUint64(0, true));
  return { json: JSON.parse(new TextDecoder().decode(b.subarray(8, 8 + n))), dataStart: 8 + n };
}

/** Re-assembles a safetensors file with a rewritten header and the original data bytes. */
function withHeader(b: Uint8Array, edit: (h: Record<string, any>) => void, extraData = new Uint8Array(0)): Uint8Array {
  const { json, dataStart } = headerOf(b);
  edit(json);
  const head = new TextEncoder().encode(JSON.stringify(json));
  const data = b.subarray(dataStart);
  const out = new Uint8Array(8 + head.length + data.length + extraData.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  out.set(data, 8 + head.length);
  out.set(extraData, 8 + head.length + data.length);
  return out;
}

/** What the byte-flip cases saw, for the summary line. */
export const flipOutcomes = { refused: 0, loadedFinite: 0, loadedNonFinite: 0 };

function checkpointCases(): BadInputCase[] {
  const cases: BadInputCase[] = [];
  const add = (name: string, run: () => void) => cases.push({ group: 'checkpoint', name, run });
  const good = realCheckpoint();
  const load = (b: Uint8Array) => () => loadCheckpoint(b, 'run/checkpoint.safetensors');
  const refused = (name: string, b: () => Uint8Array, mentions: string[] = []) =>
    add(name, () => expectUserError(load(b()), ['bad-checkpoint', 'bad-config'], mentions));
  add('the uncorrupted checkpoint loads (control)', () => {
    const m = loadCheckpoint(good, 'run/checkpoint.safetensors');
    assert.equal(m.config.hidden, 6);
    assert.ok(m.net.params.data.every(Number.isFinite));
  });
  for (let k = 0; k < 16; k++) {
    const at = Math.floor((good.length * k) / 16);
    refused(`truncated at ${k}/16 (${at} of ${good.length} bytes)`, () => good.slice(0, at), ['safetensors']);
  }
  refused('one byte short', () => good.slice(0, good.length - 1), ['safetensors']);
  refused('one byte too many', () => Uint8Array.from([...good, 0]), ['1 bytes after the last tensor']);
  const withLength = (n: bigint) => () => {
    const b = good.slice();
    new DataView(b.buffer).setBigUint64(0, n, true);
    return b;
  };
  refused('header length past the end', withLength(BigInt(good.length)), ['runs past the end']);
  refused('header length 2^63', withLength(2n ** 63n), ['runs past the end']);
  refused('header length 2^64-1', withLength(2n ** 64n - 1n), ['runs past the end']);
  refused('header length 0', withLength(0n), ['does not start with "{"']);
  refused('header length 3 (cuts the JSON)', withLength(3n), ['not valid JSON']);
  const rawHeader = (text: string) => () => {
    const head = new TextEncoder().encode(text);
    const b = new Uint8Array(8 + head.length);
    new DataView(b.buffer).setBigUint64(0, BigInt(head.length), true);
    b.set(head, 8);
    return b;
  };
  refused('header is invalid JSON', rawHeader('{"a": [1, 2'), ['not valid JSON']);
  refused('header is a list', rawHeader('[1,2,3]'), ['does not start with "{"']);
  refused('header is null', rawHeader('null'), ['does not start with "{"']);
  refused('header is a number', rawHeader('12'), ['does not start with "{"']);
  refused('header is not UTF-8', () => {
    const b = rawHeader('{"x":1}')();
    b[10] = 0xff;
    return b;
  }, ['not valid JSON']);
  refused('empty header object (no config)', rawHeader('{}'), ['no run config']);
  refused('8 zero bytes', () => new Uint8Array(8), ['does not start with "{"']);
  refused('7 bytes', () => new Uint8Array(7), ['shorter than the 8-byte header length']);
  const first = Object.keys(headerOf(good).json).find((k) => k !== '__metadata__')!;
  refused('unknown dtype F8', () => withHeader(good, (h) => (h[first].dtype = 'F8')), ['unknown dtype', first]);
  refused('unknown dtype complex64', () => withHeader(good, (h) => (h[first].dtype = 'complex64')), ['unknown dtype']);
  refused('dtype missing', () => withHeader(good, (h) => delete h[first].dtype), ['unknown dtype']);
  refused('dtype of the other width than its offsets (F32 <-> F64)', () => withHeader(good, (h) => (h[first].dtype = h[first].dtype === 'F32' ? 'F64' : 'F32')), ['do not fit shape']);
  refused('shape with a negative size', () => withHeader(good, (h) => (h[first].shape = [-1, 4])), ['bad shape']);
  refused('shape of a string', () => withHeader(good, (h) => (h[first].shape = '24')), ['bad shape']);
  refused('shape of 1e9 x 1e9', () => withHeader(good, (h) => (h[first].shape = [1e9, 1e9])), ['too large to hold']);
  refused('data_offsets missing', () => withHeader(good, (h) => delete h[first].data_offsets), ['bad data_offsets']);
  refused('data_offsets reversed', () => withHeader(good, (h) => (h[first].data_offsets = [...h[first].data_offsets].reverse())), ['bad data_offsets']);
  refused('data_offsets negative', () => withHeader(good, (h) => (h[first].data_offsets = [-8, h[first].data_offsets[1]])), ['bad data_offsets']);
  refused('data_offsets fractional', () => withHeader(good, (h) => (h[first].data_offsets = [0.5, 8.5])), ['bad data_offsets']);
  refused('data_offsets overrun the data', () => withHeader(good, (h) => {
    const [b, e] = h[first].data_offsets;
    h[first].data_offsets = [b + 1e6, e + 1e6];
  }), ['overruns']);
  refused('two tensors overlap', () => withHeader(good, (h) => {
    const names = Object.keys(h).filter((k) => k !== '__metadata__').sort((a, b) => h[a].data_offsets[0] - h[b].data_offsets[0]);
    const [a, b] = names;
    const size = h[b].data_offsets[1] - h[b].data_offsets[0];
    h[b].data_offsets = [h[a].data_offsets[0], h[a].data_offsets[0] + size];
    h[b].shape = [size / (h[b].dtype === 'F32' ? 4 : 8)];
  }), ['overlaps']);
  refused('a tensor entry that is a number', () => withHeader(good, (h) => (h[first] = 5)), ['not an object']);
  refused('__metadata__ is not an object', () => withHeader(good, (h) => (h.__metadata__ = 'x')), ['__metadata__']);
  refused('__metadata__ value is not a string', () => withHeader(good, (h) => (h.__metadata__.step = 3)), ['__metadata__.step']);
  refused('metadata config missing', () => withHeader(good, (h) => delete h.__metadata__.config), ['no run config']);
  refused('metadata config is invalid JSON', () => withHeader(good, (h) => (h.__metadata__.config = '{"cell":')), ['metadata "config" is not valid JSON']);
  refused('metadata config has a bad field', () => withHeader(good, (h) => (h.__metadata__.config = JSON.stringify({ ...JSON.parse(h.__metadata__.config), hidden: -2 }))), ['"hidden"']);
  refused('metadata config disagrees with the tensors', () => withHeader(good, (h) => (h.__metadata__.config = JSON.stringify({ ...JSON.parse(h.__metadata__.config), hidden: 7 }))), ['not of the shape']);
  refused('metadata vocab missing', () => withHeader(good, (h) => delete h.__metadata__.vocab), ['neither a vocabulary']);
  refused('metadata vocab of numbers', () => withHeader(good, (h) => (h.__metadata__.vocab = '[1,2,3]')), ['"vocab" is not a list of strings']);
  refused('metadata vocab one symbol short', () => withHeader(good, (h) => (h.__metadata__.vocab = JSON.stringify(JSON.parse(h.__metadata__.vocab).slice(1)))), ['not of']);
  refused('a tensor missing', () => {
    // Dropping the last tensor (by offset) keeps the data tiling valid up to the cut.
    const { json } = headerOf(good);
    const last = Object.keys(json).filter((k) => k !== '__metadata__').sort((a, b) => json[b].data_offsets[0] - json[a].data_offsets[0])[0];
    const cut = json[last].data_offsets[0];
    const b = withHeader(good, (h) => delete h[last]);
    return b.slice(0, b.length - (good.length - headerOf(good).dataStart - cut));
  }, ['missing']);
  refused('a random 4 KiB of bytes', () => {
    const r = new Rng(77);
    return Uint8Array.from({ length: 4096 }, () => Math.floor(r.uniform() * 256));
  }, ['safetensors']);
  refused('a text file given as a checkpoint', () => new TextEncoder().encode('It is a truth universally acknowledged'.repeat(10)), ['safetensors']);
  // Seeded random byte flips all over the file: in the header they must be refused; inside the
  // tensor data the file is still well-formed, so it loads with changed (maybe non-finite) values.
  const dataStart = headerOf(good).dataStart;
  const flips = new Rng(9);
  for (let i = 0; i < 48; i++) {
    const at = i < 24 ? Math.floor(flips.uniform() * dataStart) : dataStart + Math.floor(flips.uniform() * (good.length - dataStart));
    const bit = 1 << Math.floor(flips.uniform() * 8);
    add(`bit flip 0x${bit.toString(16)} at byte ${at} (${at < dataStart ? 'header' : 'tensor data'})`, () => {
      const b = good.slice();
      b[at] ^= bit;
      let model;
      try {
        model = loadCheckpoint(b, 'run/checkpoint.safetensors');
      } catch (e) {
        expectUserError(() => {
          throw e;
        }, ['bad-checkpoint', 'bad-config']);
        flipOutcomes.refused++;
        return;
      }
      // Loaded: only a flip that leaves the header a valid, consistent description may get here.
      if (at >= dataStart) {
        const finite = model.net.params.data.every(Number.isFinite);
        if (finite) flipOutcomes.loadedFinite++;
        else flipOutcomes.loadedNonFinite++;
      } else {
        // A header flip that still loads changed something harmless (a metadata string): the
        // tensors must be exactly those of the good file.
        const ref = loadCheckpoint(good, 'good');
        assert.deepEqual(Array.from(model.net.params.data), Array.from(ref.net.params.data));
        flipOutcomes.loadedFinite++;
      }
    });
  }
  add('F32 checkpoint of the same model loads (accepted)', () => {
    const ref = loadCheckpoint(good, 'good');
    const p = ref.net.params;
    const { json } = headerOf(good);
    const f32 = encodeSafetensors(p.tensors.map((t) => ({ name: t.name, shape: t.shape, data: p.data.subarray(t.offset, t.offset + t.size) })), json.__metadata__ as Record<string, string>, 'F32');
    const m = loadCheckpoint(f32, 'f32');
    assert.ok(Math.abs(m.net.params.data[0] - p.data[0]) < 1e-6);
  });
  return cases;
}

// ---------------------------------------------------------------------------------------------
// Webview messages and run ids (command arguments).

function webviewCases(): BadInputCase[] {
  const cases: BadInputCase[] = [];
  const add = (name: string, run: () => void) => cases.push({ group: 'webview message', name, run });
  // checkFromPanel is what both panels (the side view and the report) run on every message.
  const refused = (name: string, msg: () => unknown, mention: string) =>
    add(name, () => {
      const m = msg();
      const t = Date.now();
      const r = checkFromPanel(m);
      assert.ok(Date.now() - t < 1000, `the validator took ${Date.now() - t} ms`);
      assert.ok(!r.ok, 'accepted');
      assert.ok(r.reason.includes(mention), `the reason does not say ${JSON.stringify(mention)}: ${r.reason}`);
      assert.ok(!/\n/.test(r.reason) && r.reason.length < 200, r.reason);
    });
  const received = { type: 'received', metrics: 3, diagnostics: 1, lastStep: 30 };
  const drew = { type: 'drew', runIds: ['20261123-170405-tiny'], lastStep: 30, charts: { loss: 10 } };
  const exp = { type: 'export', chart: 'loss', format: 'csv', data: 'step,loss\n1,2' };
  for (const [what, v] of [['null', null], ['undefined', undefined], ['a string', 'ready'], ['a number', 7], ['a list', [received]], ['a boolean', true]] as [string, unknown][]) {
    refused(`message is ${what}`, () => v, 'not an object');
  }
  refused('no type', () => ({ metrics: 1 }), 'unknown message type');
  for (const type of ['start', 'stop', 'delete', 'eval', 'READY', '', 'x'.repeat(100_000)]) refused(`unknown command ${JSON.stringify(type.slice(0, 12))}`, () => ({ type }), 'unknown message type');
  for (const type of [5, null, {}, ['ready']]) refused(`type of kind ${Array.isArray(type) ? 'list' : typeof type}`, () => ({ type }), 'unknown message type');
  for (const field of ['metrics', 'diagnostics', 'lastStep'] as const) {
    refused(`received without ${field}`, () => {
      const m: Record<string, unknown> = { ...received };
      delete m[field];
      return m;
    }, 'whole numbers');
    for (const [what, v] of [['a string', '3'], ['negative', -1], ['fractional', 1.5], ['NaN', NaN], ['Infinity', Infinity], ['null', null], ['an object', { n: 1 }]] as [string, unknown][]) {
      refused(`received with ${field} ${what}`, () => ({ ...received, [field]: v }), 'whole numbers');
    }
  }
  for (const [what, ids] of [['not a list', 'run'], ['a traversal id', ['../../etc']], ['an absolute path', ['/etc/passwd']], ['a hidden folder', ['.rnn-lab']], ['33 ids', Array(33).fill('a')], ['a number id', [5]]] as [string, unknown][]) {
    refused(`drew with runIds ${what}`, () => ({ ...drew, runIds: ids }), 'runIds');
    refused(`show with runIds ${what}`, () => ({ type: 'show', runIds: ids }), 'runIds');
  }
  refused('show with no run', () => ({ type: 'show', runIds: [] }), 'runIds');
  refused('drew with an unknown chart', () => ({ ...drew, charts: { loss: 1, '__proto__x': 2 } }), 'bad chart entry');
  refused('drew with a negative count', () => ({ ...drew, charts: { loss: -1 } }), 'bad chart entry');
  refused('drew with charts a list', () => ({ ...drew, charts: [1, 2] }), 'charts must be an object');
  refused('drew with lastStep a string', () => ({ ...drew, lastStep: '3' }), 'lastStep');
  refused('export of an unknown chart', () => ({ ...exp, chart: '../../settings.json' }), 'unknown chart');
  refused('export in an unknown format', () => ({ ...exp, format: 'exe' }), 'format');
  refused('export with no data', () => ({ ...exp, data: '' }), 'data');
  refused('export with data a number', () => ({ ...exp, data: 42 }), 'data');
  refused('export: PNG that is not a base64 data: URL', () => ({ ...exp, format: 'png', data: 'javascript:alert(1)' }), 'png data');
  refused('export: SVG that is not an <svg>', () => ({ ...exp, format: 'svg', data: '<script>alert(1)</script>' }), 'svg data');
  refused('huge payload: 1,000,000 extra keys', () => {
    const m: Record<string, unknown> = { type: 'bogus' };
    for (let i = 0; i < 1_000_000; i++) m[`k${i}`] = i;
    return m;
  }, 'unknown message type');
  refused('huge payload: a 50 MB string field', () => ({ ...received, metrics: 'x'.repeat(50 * 1024 * 1024) }), 'whole numbers');
  refused('huge payload: an export over the size limit', () => ({ ...exp, data: 'x'.repeat(MAX_EXPORT_CHARS + 1) }), 'size limit');
  add('well-formed messages pass (control)', () => {
    for (const m of [{ type: 'ready' }, received, drew, exp, { type: 'show', runIds: ['20261123-170405-tiny'] }]) assert.ok(checkFromPanel(m).ok, JSON.stringify(m));
  });
  const badIds: [string, unknown, string][] = [
    ['../ traversal', '../../etc', 'characters other than'],
    ['.. alone', '..', 'starts with "."'],
    ['hidden folder', '.rnn-lab', 'starts with "."'],
    ['absolute path', '/etc/passwd', 'characters other than'],
    ['a separator inside', '20261123-120000-a/../../b', 'characters other than'],
    ['backslash traversal', '..\\..\\x', 'characters other than'],
    ['URL-encoded traversal', '%2e%2e%2fsecret', 'characters other than'],
    ['NUL byte', 'run\0x', 'characters other than'],
    ['empty', '', 'empty'],
    ['a number', 5, 'must be a string'],
    ['null', null, 'must be a string'],
    ['an object', { runId: '../x' }, 'must be a string'],
    ['10,000 characters', 'a'.repeat(10_000), 'characters long'],
  ];
  for (const [what, id, mention] of badIds) {
    cases.push({
      group: 'run id',
      name: `run id: ${what}`,
      run: () => {
        const problem = runIdProblem(id);
        assert.ok(problem, 'accepted');
        assert.ok(problem.includes(mention), problem);
      },
    });
  }
  cases.push({ group: 'run id', name: 'run id of a real run passes (control)', run: () => assert.equal(runIdProblem('20261123-170405-tiny-lstm-2'), undefined) });
  return cases;
}

export function buildCorpus(): BadInputCase[] {
  return [...dataCases(), ...configCases(), ...cliCases(), ...checkpointCases(), ...webviewCases()];
}
