/**
 * Translate Selection's pure parts: selection lines, source tokens and their offsets, attention to
 * highlights; the worker's translation of the committed reverse-dot run against what `rnn-lab
 * translate` printed for it; and the config schema's seq2seq fields against validateConfig.
 */
import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { translate as cliTranslate } from '../../src/cli/seq2seq';
import { DEFAULT_CONFIG, validateConfig } from '../../src/engine/config';
import { loadSeq2SeqCheckpoint } from '../../src/engine/seq2seqCheckpoint';
import { Vocab } from '../../src/engine/seq2seq/vocab';
import { HIGHLIGHT_FLOOR, insertionText, levelOf, outputHighlights, selectedLines, sourceHighlights, tokenAt } from '../../src/extension/selection/translationMap';
import type { TranslatedLine } from '../../src/protocol/inspectWorker';
import { sourceCapOf, sourceTokensOf, translateLines } from '../../src/worker/inspectTranslate';

const root = join(__dirname, '../..');
const runDir = join(root, 'test/fixtures/runs/20261207-051700-reverse-dot');
const expected = readFileSync(join(root, 'test/fixtures/translate-reverse-dot.txt'), 'utf8');

describe('Translate Selection: selection lines and tokens', () => {
  it('splits a selection into its lines, keeping empty ones, the first at its start column', () => {
    assert.deepEqual(selectedLines('ab\r\n\ncd', 4, 2), [
      { line: 4, character: 2, text: 'ab' },
      { line: 5, character: 0, text: '' },
      { line: 6, character: 0, text: 'cd' },
    ]);
    // A selection that ends at the start of a line does not include that line.
    assert.deepEqual(selectedLines('ab\n', 0, 0), [{ line: 0, character: 0, text: 'ab' }]);
  });

  it('maps a closed character vocabulary: offsets in the untrimmed line, unknown characters left out', () => {
    const v = new Vocab('char', [...'0123456789'], false);
    const { tokens, ids } = sourceTokensOf('  1x2😀3 ', v);
    assert.deepEqual(tokens.map((t) => [t.text, t.offset, t.length, t.known, t.column]), [
      ['1', 2, 1, true, 0],
      ['x', 3, 1, false, -1],
      ['2', 4, 1, true, 1],
      ['😀', 5, 2, false, -1],
      ['3', 7, 1, true, 2],
    ]);
    assert.deepEqual(ids, [v.id('1'), v.id('2'), v.id('3')]);
  });

  it('maps a word vocabulary with <unk>: unknown words are fed as <unk> and keep their column', () => {
    const v = new Vocab('word', ['go', 'away', '!'], true);
    const { tokens, ids } = sourceTokensOf('Go away  now!', v);
    assert.deepEqual(tokens.map((t) => [t.text, t.offset, t.known, t.column]), [
      ['Go', 0, false, 0],
      ['away', 3, true, 1],
      ['now', 9, false, 2],
      ['!', 12, true, 3],
    ]);
    assert.deepEqual(ids, [v.unk, v.id('away'), v.unk, v.id('!')]);
    assert.equal(tokenAt(tokens, 10), 2);
    assert.equal(tokenAt(tokens, 7), -1); // the blanks between words are no token
  });
});

describe('Translate Selection: attention to highlights', () => {
  // Source "a?b" with '?' left out: columns 0 and 1 are 'a' and 'b'.
  const tl: TranslatedLine = {
    source: [
      { text: 'a', offset: 0, length: 1, known: true, column: 0 },
      { text: '?', offset: 1, length: 1, known: false, column: -1 },
      { text: 'b', offset: 2, length: 1, known: true, column: 1 },
    ],
    output: [
      { text: 'B', offset: 0, length: 1 },
      { text: 'A', offset: 1, length: 1 },
    ],
    text: 'BA',
    finished: true,
    attention: [
      [0.01, 0.99],
      [0.7, 0.3],
    ],
    warnings: [],
  };

  it('lights the source tokens an output token attended to, with their weights, above the floor', () => {
    assert.deepEqual(sourceHighlights(tl, 0), [{ token: 2, offset: 2, length: 1, weight: 0.99 }]);
    assert.deepEqual(sourceHighlights(tl, 1), [
      { token: 0, offset: 0, length: 1, weight: 0.7 },
      { token: 2, offset: 2, length: 1, weight: 0.3 },
    ]);
    assert.ok(0.01 < HIGHLIGHT_FLOOR);
  });

  it('lights the output tokens that attended to a source token; a left-out token lights none', () => {
    assert.deepEqual(outputHighlights(tl, 0), [{ token: 1, offset: 1, length: 1, weight: 0.7 }]);
    assert.deepEqual(outputHighlights(tl, 2), [
      { token: 0, offset: 0, length: 1, weight: 0.99 },
      { token: 1, offset: 1, length: 1, weight: 0.3 },
    ]);
    assert.deepEqual(outputHighlights(tl, 1), []);
  });

  it('draws a weight at the opacity level just above it', () => {
    assert.deepEqual([0.02, 0.1, 0.1000001, 0.55, 0.99, 1].map(levelOf), [0, 0, 1, 5, 9, 9]);
  });

  it('inserts each output on its own line after the selection', () => {
    assert.equal(insertionText([tl, { ...tl, text: '' }, { ...tl, text: 'xy' }], '\r\n'), '\r\nBA\r\n\r\nxy');
  });
});

describe('Translate Selection: the worker on a trained reverse-dot run', () => {
  const loaded = loadSeq2SeqCheckpoint(readFileSync(join(runDir, 'checkpoint.safetensors')), 'fixture');

  it('gives what rnn-lab translate printed for the same run, keeps a blank line, and attention rows sum to 1', () => {
    const cliOutputs = expected.split('\n').filter((l) => l.includes(' -> ')).map((l) => l.split(' -> ')[1]);
    const r = translateLines(loaded, ['12345', '', ' 90734'], { beam: 0, alpha: 0.6 });
    assert.deepEqual(r.lines.map((l) => l.text), [cliOutputs[0], '', cliOutputs[1]]);
    assert.deepEqual(cliOutputs, ['54321', '43709']);
    assert.deepEqual(r.lines[1], { source: [], output: [], text: '', finished: true, attention: [], warnings: [] });
    const l = r.lines[2];
    assert.deepEqual(l.source.map((s) => s.offset), [1, 2, 3, 4, 5]);
    assert.equal(l.attention.length, l.output.length);
    for (const row of l.attention) assert.ok(Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-12);
    // Reversal: output token t attends most to source token n-1-t (the anti-diagonal), as the CLI's table shows.
    assert.deepEqual(l.attention.map((row) => row.indexOf(Math.max(...row))), [4, 3, 2, 1, 0]);
    assert.deepEqual(sourceHighlights(l, 0).map((h) => h.token).at(-1), 4);
  });

  it('translates a line over the trained length with a warning, and leaves out characters outside the alphabet', () => {
    assert.equal(sourceCapOf(loaded), 6);
    const r = translateLines(loaded, ['123456789', '12a3'], { beam: 2, alpha: 0.6 });
    assert.match(r.lines[0].warnings.join(), /9 source tokens, over the 6 the run trained on/);
    assert.ok(r.lines[0].output.length > 0);
    assert.match(r.lines[1].warnings[0], /1 source token not in the run's vocabulary \("a"\): left out/);
    assert.equal(r.lines[1].text, '321');
    assert.equal(r.beam, 2);
  });

  it('matches the committed CLI output (the fixture and rnn-lab translate agree)', async () => {
    const log = console.log;
    const printed = await cliTranslate(runDir, '12345\n\n90734', new Map());
    console.log = log;
    assert.equal(printed, expected.replace(/\n$/, ''));
  });

  it('refuses a beam wider than the cap', () => {
    assert.throws(() => translateLines(loaded, ['1'], { beam: 65, alpha: 0.6 }), /beam width must be a whole number from 0/);
  });
});

describe('the config schema lists every config field as validateConfig reads it', () => {
  const schema = JSON.parse(readFileSync(join(root, 'media/rnn-config.schema.json'), 'utf8')) as { properties: Record<string, { type: string; enum?: string[]; minimum?: number; maximum?: number; default?: unknown }> };
  const seq2seqFields = ['attention', 'attentionSize', 'srcLen', 'alphabet', 'teacherForcing', 'tokenization', 'heldOut', 'pinned'] as const;

  it('has every field, and the seq2seq ones with the engine defaults', () => {
    for (const k of Object.keys(DEFAULT_CONFIG)) assert.ok(schema.properties[k], `schema lacks ${k}`);
    for (const k of seq2seqFields) assert.deepEqual(schema.properties[k].default, DEFAULT_CONFIG[k], k);
    assert.deepEqual(schema.properties.task.enum, ['charlm', 'forecast', 'seq2seq', 'reverse', 'copy', 'sort', 'date', 'addition']);
  });

  it('accepts at each bound what validateConfig accepts and refuses what it refuses', () => {
    for (const [k, p] of Object.entries(schema.properties)) {
      const values = p.enum;
      if (values) {
        for (const v of values) assert.doesNotThrow(() => validateConfig({ [k]: v }), `${k} = ${v}`);
        assert.throws(() => validateConfig({ [k]: `${values[0]}x` }), /must be one of/, `${k} took a value outside its enum`);
      }
      if (p.maximum !== undefined) {
        const step = p.type === 'integer' ? 1 : 1e-6 * Math.max(1, Math.abs(p.maximum));
        assert.doesNotThrow(() => validateConfig({ [k]: p.maximum }), `${k} = ${p.maximum}`);
        assert.throws(() => validateConfig({ [k]: p.maximum! + step }), /must be between/, `${k} took ${p.maximum! + step}`);
      }
      if (p.minimum !== undefined) {
        assert.doesNotThrow(() => validateConfig({ [k]: p.minimum }), `${k} = ${p.minimum}`);
        assert.throws(() => validateConfig({ [k]: p.minimum! - (p.type === 'integer' ? 1 : 1e-3) }), /must be between/, `${k} took below ${p.minimum}`);
      }
    }
  });

  it('ships a reverse-dot example whose fields are the committed run\'s config', () => {
    const example = JSON.parse(readFileSync(join(root, 'media/examples/reverse-dot.rnn.json'), 'utf8')) as Record<string, unknown>;
    const { config, warnings } = validateConfig(example);
    assert.deepEqual(warnings, []);
    const run = JSON.parse(readFileSync(join(runDir, 'config.json'), 'utf8')) as Record<string, unknown>;
    for (const [k, v] of Object.entries(example)) assert.deepEqual(run[k], v, k);
    assert.equal(config.task, 'reverse');
    assert.equal(config.attention, 'dot');
  });
});
