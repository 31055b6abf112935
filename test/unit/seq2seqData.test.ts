/**
 * Seq2seq data: vocabularies, generated tasks with their alignments, and the user's pair files.
 * Known answers are worked by hand (a date in every format, "123+45", Tatoeba lines, CSV quoting);
 * the rest are properties checked over many seeded draws (reversal is the anti-diagonal, a
 * held-out example never comes out of the training stream, an aligned source digit is the digit
 * the target writes).
 */
import * as assert from 'node:assert/strict';
import { EngineError } from '../../src/engine/errors';
import { readPairs, parseCsvRecords, parseCsvPairs, describeBadLines, pairFormatOf } from '../../src/engine/seq2seq/pairs';
import { DATE_FORMATS, additionExample, dayOf, formatDate, generateTask, type Example } from '../../src/engine/seq2seq/tasks';
import { makeBatch } from '../../src/engine/seq2seq/batch';
import { BOS, EOS, PAD, UNK, Vocab, detokenize, tokenize } from '../../src/engine/seq2seq/vocab';

function throwsEngineError(fn: () => unknown, code: string, pattern: RegExp): EngineError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof EngineError, `expected an EngineError, got ${String(caught)}`);
  assert.equal(caught.code, code);
  assert.match(caught.line, pattern);
  assert.ok(caught.line.length < 300, `one line under 300 chars: ${caught.line.length}`);
  assert.ok(!caught.line.includes('\n'));
  return caught;
}

describe('seq2seq vocabulary', () => {
  it('fixes PAD 0, BOS 1, EOS 2, <unk> 3 for user data, tokens after them', () => {
    assert.deepEqual([PAD, BOS, EOS, UNK], [0, 1, 2, 3]);
    const v = new Vocab('char', ['a', 'b'], true);
    assert.deepEqual(v.tokens, ['<pad>', '<bos>', '<eos>', '<unk>', 'a', 'b']);
    assert.deepEqual(v.encode('abz'), [4, 5, 3]);
    const closed = new Vocab('char', ['a', 'b'], false);
    assert.deepEqual(closed.encode('ba'), [4, 3]);
    assert.equal(closed.unk, undefined);
    assert.throws(() => closed.encode('az'), /token "z" is not in the vocabulary/);
  });

  it('decode drops PAD and BOS and stops at the first EOS', () => {
    const v = new Vocab('word', ['hello', 'world'], true);
    assert.equal(v.decode([BOS, 4, PAD, 5, EOS, 4]), 'hello world');
    assert.equal(v.decode([4, 3]), 'hello <unk>');
  });

  it('word tokens split punctuation off and keep inner apostrophes; char tokens are code points', () => {
    assert.deepEqual(tokenize("Don't go, Tom!  Véronique's 42.", 'word'), ["Don't", 'go', ',', 'Tom', '!', "Véronique's", '42', '.']);
    assert.deepEqual(tokenize('a😀 b', 'char'), ['a', '😀', ' ', 'b']);
    assert.equal(detokenize(['a', 'b'], 'word'), 'a b');
    assert.equal(detokenize(['a', ' ', 'b'], 'char'), 'a b');
  });

  it('a size cap keeps the most frequent tokens, ties in code-unit order, whatever the line order', () => {
    const seqs = [['b', 'a', 'c'], ['c', 'd', 'b'], ['e', 'c']];
    // counts: c 3, b 2, a 1, d 1, e 1; cap 4 + 3 = room for 3 real tokens: c, b, then a (a < d < e).
    const v = Vocab.fromSequences(seqs, 'char', { maxSize: 7 });
    assert.deepEqual(v.tokens.slice(4), ['c', 'b', 'a']);
    const w = Vocab.fromSequences([...seqs].reverse().map((s) => [...s].reverse()), 'char', { maxSize: 7 });
    assert.deepEqual(w.tokens, v.tokens);
    assert.deepEqual(v.encode('dcb'), [UNK, 4, 5]);
    assert.equal(Vocab.fromSequences(seqs, 'char').size, 4 + 5);
  });

  it('round-trips through JSON and rejects a damaged one with a clear message', () => {
    const v = Vocab.fromSequences([['x', 'y', 'y']], 'word');
    const back = Vocab.fromJSON(JSON.parse(JSON.stringify(v.toJSON())));
    assert.deepEqual(back.tokens, v.tokens);
    assert.equal(back.unk, 3);
    assert.equal(back.tokenization, 'word');
    const closed = Vocab.fromJSON(new Vocab('char', ['0', '1'], false).toJSON());
    assert.deepEqual(closed.encode('10'), [4, 3]);
    throwsEngineError(() => Vocab.fromJSON({ format: 'rnn-lab-vocab/1', tokenization: 'char', tokens: ['<pad>', '<eos>', '<bos>', 'a'], unk: false }), 'bad-checkpoint', /does not start with <pad>, <bos>, <eos>/);
    throwsEngineError(() => Vocab.fromJSON(null), 'bad-checkpoint', /rnn-lab-vocab\/1/);
    throwsEngineError(() => Vocab.fromJSON({ format: 'rnn-lab-vocab/1', tokenization: 'char', tokens: ['<pad>', '<bos>', '<eos>', 'a', 'a'], unk: false }), 'bad-checkpoint', /lists a token twice/);
    throwsEngineError(() => Vocab.fromJSON({ format: 'rnn-lab-vocab/1', tokenization: 'bpe', tokens: [], unk: false }), 'bad-checkpoint', /tokenization "bpe"/);
  });
});

function checkIds(task: ReturnType<typeof generateTask>, ex: Example): void {
  assert.equal(task.srcVocab.decode(ex.src), ex.source);
  assert.equal(task.tgtVocab.decode(ex.tgt), ex.target);
  assert.equal(ex.alignment.length, ex.tgt.length);
  assert.ok(ex.src.every((id) => id >= 3 && id < task.srcVocab.size));
}

describe('seq2seq generated tasks', () => {
  it('reverse: lengths in range, target reversed, alignment the anti-diagonal, ids from 3', () => {
    const task = generateTask('reverse', { srcLen: [5, 10], seed: 7, trainSize: 500, heldOutSize: 200 });
    assert.deepEqual(task.srcVocab.tokens.slice(3), [...'0123456789']);
    assert.equal(task.srcVocab.size, 13);
    const lengths = new Set<number>();
    for (const ex of [...task.train, ...task.heldOut]) {
      checkIds(task, ex);
      lengths.add(ex.source.length);
      assert.equal(ex.target, [...ex.source].reverse().join(''));
      assert.deepEqual(ex.alignment, ex.tgt.map((_, t) => [ex.src.length - 1 - t]));
    }
    assert.deepEqual([...lengths].sort((a, b) => a - b), [5, 6, 7, 8, 9, 10]);
  });

  it('copy is the diagonal; letters are a-z', () => {
    const task = generateTask('copy', { srcLen: [3, 4], alphabet: 'letters', seed: 2, trainSize: 50, heldOutSize: 50 });
    assert.equal(task.srcVocab.size, 3 + 26);
    for (const ex of task.train) {
      checkIds(task, ex);
      assert.equal(ex.target, ex.source);
      assert.deepEqual(ex.alignment, ex.tgt.map((_, t) => [t]));
      assert.match(ex.source, /^[a-z]{3,4}$/);
    }
  });

  it('sort: the target is sorted in alphabet order and each position aligns to every source copy of its token', () => {
    const task = generateTask('sort', { srcLen: [6, 8], alphabet: 'zyx', seed: 3, trainSize: 200, heldOutSize: 20 });
    for (const ex of task.train) {
      checkIds(task, ex);
      const rank = (c: string) => 'zyx'.indexOf(c);
      assert.equal(ex.target, [...ex.source].sort((a, b) => rank(a) - rank(b)).join(''));
      ex.alignment.forEach((al, t) => {
        const expected = [...ex.source].flatMap((c, s) => (c === ex.target[t] ? [s] : []));
        assert.deepEqual(al, expected);
      });
    }
  });

  it('addition: "123+45" -> "168", each sum digit aligned to the operand digits of its place value', () => {
    const r = additionExample('123', '45');
    assert.equal(r.source, '123+45');
    assert.equal(r.target, '168');
    assert.deepEqual(r.alignment, [[0], [1, 4], [2, 5]]);
    const carry = additionExample('99', '5');
    assert.equal(carry.target, '104');
    assert.deepEqual(carry.alignment, [[], [0], [1, 3]]);
    const task = generateTask('addition', { srcLen: [1, 6], seed: 4, trainSize: 300, heldOutSize: 100 });
    for (const ex of [...task.train, ...task.heldOut]) {
      checkIds(task, ex);
      const [a, b] = ex.source.split('+');
      assert.match(a, /^(0|[1-9]\d{0,5})$/);
      assert.equal(ex.target, String(BigInt(a) + BigInt(b)));
      // An aligned position is a digit whose place value is the target digit's.
      ex.alignment.forEach((al, t) => {
        const place = ex.target.length - 1 - t;
        for (const s of al) {
          const inA = s < a.length;
          const placeOf = inA ? a.length - 1 - s : ex.source.length - 1 - s;
          assert.equal(placeOf, place);
        }
        assert.equal(al.length, (place < a.length ? 1 : 0) + (place < b.length ? 1 : 0));
      });
    }
  });

  it('date: Friday 23 January 2015 in all 20 formats, with the alignment worked by hand for three', () => {
    const day = dayOf(Date.UTC(2015, 0, 23) / 86400000);
    assert.deepEqual(day, { y: 2015, m: 1, d: 23, weekday: 5 });
    const sources = DATE_FORMATS.map((f) => formatDate(day, f).source);
    assert.deepEqual(sources, [
      '23JAN2015', '01/23/15', 'JAN 23, 2015', '2015.1.23', '23 January 2015', 'Friday, January 23, 2015',
      '2015-01-23', '23.01.2015', '23/01/2015', '01/23/2015', '20150123', 'January 23, 2015', 'Jan 23 2015',
      '23-Jan-2015', '23 Jan 15', '2015/01/23', '1/23/2015', '23-01-2015', 'Fri 23 Jan 2015', 'January 23rd, 2015',
    ]);
    assert.ok(DATE_FORMATS.every((f) => formatDate(day, f).target === '2015-01-23'));
    //                                           2    0    1    5   -    0          1          -    2    3
    assert.deepEqual(formatDate(day, DATE_FORMATS[0]).alignment, [[5], [6], [7], [8], [], [2, 3, 4], [2, 3, 4], [], [0], [1]]);
    assert.deepEqual(formatDate(day, DATE_FORMATS[1]).alignment, [[], [], [6], [7], [], [0], [1], [], [3], [4]]);
    assert.deepEqual(formatDate(day, DATE_FORMATS[3]).alignment, [[0], [1], [2], [3], [], [], [5], [], [7], [8]]);
    assert.equal(formatDate(dayOf(Date.UTC(1999, 10, 2) / 86400000), DATE_FORMATS[19]).source, 'November 2nd, 1999');
    assert.equal(formatDate(dayOf(Date.UTC(2049, 11, 11) / 86400000), DATE_FORMATS[19]).source, 'December 11th, 2049');
  });

  it('date: every aligned digit is the digit the target writes, a month name aligns to its letters, held out by date', () => {
    const task = generateTask('date', { seed: 5, trainSize: 3000, heldOutSize: 300 });
    const formats = new Set<string>();
    const heldDates = new Set(task.heldOut.map((e) => e.target));
    assert.equal(heldDates.size, 300);
    for (const ex of [...task.train, ...task.heldOut]) {
      checkIds(task, ex);
      assert.match(ex.target, /^(19[5-9]\d|20[0-4]\d)-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$/);
      formats.add(ex.source.replace(/\d/g, '9').replace(/[A-Za-z]+/g, 'A'));
      ex.alignment.forEach((al, t) => {
        if (t === 4 || t === 7) assert.deepEqual(al, []);
        const chars = al.map((s) => ex.source[s]).join('');
        if (al.length === 1) assert.equal(chars, ex.target[t], `${ex.source} -> ${ex.target} at ${t}`);
        if (al.length > 1) assert.match(chars, /^[A-Za-z]+$/);
      });
      if (!heldDates.has(ex.target)) continue;
      assert.ok(task.heldOut.includes(ex), `training example ${ex.source} has a held-out date`);
    }
    assert.ok(formats.size >= 15, `formats seen: ${formats.size}`);
    assert.deepEqual(task.tgtVocab.tokens.slice(3), [...'0123456789-']);
  });

  it('the training stream never yields a held-out example, and resumes exactly from its state', () => {
    // Lengths 2-3 over digits: 1100 examples, 300 held out, so a draw is held out about a quarter of the time.
    const task = generateTask('reverse', { srcLen: [2, 3], seed: 11, trainSize: 0, heldOutSize: 300 });
    const held = new Set(task.heldOut.map((e) => e.source));
    assert.equal(held.size, 300);
    const s = task.sampler();
    const seen = new Set<string>();
    for (const ex of s.batch(20000)) {
      assert.ok(!held.has(ex.source));
      assert.ok(!task.isHeldOut(ex));
      seen.add(ex.source);
    }
    assert.equal(seen.size, 1100 - 300);
    const state = s.getState();
    const ahead = s.batch(5).map((e) => e.source);
    s.setState(state);
    assert.deepEqual(s.batch(5).map((e) => e.source), ahead);
  });

  it('the same seed gives the same task, another seed another one', () => {
    const a = generateTask('sort', { seed: 9, trainSize: 20, heldOutSize: 20 });
    const b = generateTask('sort', { seed: 9, trainSize: 20, heldOutSize: 20 });
    const c = generateTask('sort', { seed: 10, trainSize: 20, heldOutSize: 20 });
    assert.deepEqual(a.train, b.train);
    assert.deepEqual(a.heldOut, b.heldOut);
    assert.notDeepEqual(a.train.map((e) => e.source), c.train.map((e) => e.source));
    assert.deepEqual(a.train, a.sampler().batch(20));
  });

  it('impossible options are one clear error each', () => {
    throwsEngineError(() => generateTask('reverse', { srcLen: [1, 1], heldOutSize: 20 }), 'bad-config', /only 10 distinct examples .* fewer than the 20 held out\. Lower heldOutSize/);
    const all = generateTask('copy', { srcLen: [1, 1], heldOutSize: 10, trainSize: 0 });
    throwsEngineError(() => all.sampler().next(), 'bad-config', /almost only held-out examples/);
    throwsEngineError(() => generateTask('reverse', { srcLen: [6, 5] }), 'bad-config', /6-5 is not lo-hi/);
    throwsEngineError(() => generateTask('copy', { alphabet: 'aa' }), 'bad-config', /alphabet "aa"/);
    throwsEngineError(() => generateTask('nope' as never), 'bad-config', /task "nope" is not one of reverse, copy, sort, date, addition/);
    throwsEngineError(() => generateTask('copy', { trainSize: -1 }), 'bad-config', /trainSize is -1/);
  });
});

const TATOEBA = [
  'Go.\tVa !\tCC-BY 2.0 (France) Attribution: tatoeba.org #2877272 (CM) & #1158250 (Wittydev)',
  'Hi.\tSalut !\tCC-BY 2.0 (France) Attribution: tatoeba.org #538123 (CM) & #509819 (Aiji)',
  'Run!\tCours\u202f!',
  'no tab here',
  'Who?\t   ',
  '',
  'Wow!\tÇa alors\u202f!',
  'I am cold.\tJ’ai froid.',
].join('\r\n') + '\r\n';

describe('seq2seq user pairs', () => {
  it('reads Tatoeba lines (extra columns ignored, CRLF), reports bad lines by number, splits by source', () => {
    const d = readPairs(TATOEBA, 'fra.txt', { seed: 1, heldOutFraction: 0.2 });
    assert.equal(d.records, 8);
    assert.deepEqual(d.bad, [{ line: 4, reason: 'no tab' }, { line: 5, reason: 'empty target' }, { line: 6, reason: 'blank' }]);
    assert.equal(d.badReport, 'fra.txt: 3 of 8 lines skipped: line 4 (no tab), line 5 (empty target), line 6 (blank)');
    const all = [...d.train, ...d.heldOut].sort((a, b) => a.line - b.line);
    assert.deepEqual(all.map((e) => [e.line, e.source, e.target]), [
      [1, 'Go.', 'Va !'], [2, 'Hi.', 'Salut !'], [3, 'Run!', 'Cours\u202f!'], [7, 'Wow!', 'Ça alors\u202f!'], [8, 'I am cold.', 'J’ai froid.'],
    ]);
    assert.equal(d.heldOut.length, 1);
    assert.deepEqual(d.train.find((e) => e.line === 8)?.tgtTokens ?? d.heldOut[0].tgtTokens, ['J’ai', 'froid', '.']);
    for (const e of d.train) assert.equal(d.tgtVocab.decode(e.tgt), e.tgtTokens.join(' '));
  });

  it('the vocabularies come from the training pairs only: a held-out-only word is <unk>', () => {
    const lines = Array.from({ length: 40 }, (_, i) => `s${i} common\tt${i} shared`);
    const d = readPairs(lines.join('\n'), 'p.tsv', { seed: 3, heldOutFraction: 0.25 });
    assert.equal(d.heldOut.length, 10);
    assert.equal(d.train.length, 30);
    for (const e of d.heldOut) {
      assert.equal(e.src[0], UNK);
      assert.equal(d.srcVocab.tokens[e.src[1]], 'common');
      assert.deepEqual(d.tgtVocab.tokenStrings(e.tgt), ['<unk>', 'shared']);
    }
    assert.ok(d.train.every((e) => e.src[0] !== UNK));
    // The vocabulary cap counts the specials and <unk>: 4 + 2 real tokens, the two most frequent.
    const capped = readPairs(lines.join('\n'), 'p.tsv', { seed: 3, heldOutFraction: 0.25, maxSrcVocab: 6 });
    assert.equal(capped.srcVocab.size, 6);
    assert.deepEqual(capped.srcVocab.tokens.slice(4, 5), ['common']);
  });

  it('no source is in both sets, the split is seeded, and char tokens work', () => {
    const lines: string[] = [];
    for (let i = 0; i < 60; i++) lines.push(`src ${i % 20}\ttarget ${i}`);
    const a = readPairs(lines.join('\n'), 'p.tsv', { seed: 1 });
    const b = readPairs(lines.join('\n'), 'p.tsv', { seed: 1 });
    const c = readPairs(lines.join('\n'), 'p.tsv', { seed: 2 });
    const trainSrc = new Set(a.train.map((e) => e.source));
    assert.ok(a.heldOut.every((e) => !trainSrc.has(e.source)));
    assert.equal(new Set(a.heldOut.map((e) => e.source)).size, 2); // 10% of 20 distinct sources
    assert.equal(a.heldOut.length, 6);
    assert.deepEqual(a.heldOut, b.heldOut);
    assert.notDeepEqual(a.heldOut.map((e) => e.source), c.heldOut.map((e) => e.source));
    const chars = readPairs('ab\tba\n', 'p.tsv', { tokenization: 'char' });
    assert.deepEqual(chars.train[0].tgtTokens, ['b', 'a']);
    assert.equal(chars.heldOut.length, 0);
  });

  it('over the length cap is a bad line, listed with the first five and "and N more"', () => {
    const lines = ['a b c\tx'];
    for (let i = 0; i < 8; i++) lines.push('one two three four\tx');
    const d = readPairs(lines.join('\n'), 'long.tsv', { maxLen: 3 });
    assert.equal(d.bad.length, 8);
    assert.equal(d.bad[0].reason, 'source has 4 tokens, over the cap of 3');
    assert.equal(d.badReport, 'long.tsv: 8 of 9 lines skipped: line 2 (source has 4 tokens, over the cap of 3), line 3 (source has 4 tokens, over the cap of 3), line 4 (source has 4 tokens, over the cap of 3), line 5 (source has 4 tokens, over the cap of 3), line 6 (source has 4 tokens, over the cap of 3), and 3 more');
    assert.equal(describeBadLines('f', [{ line: 2, reason: 'no tab' }], 2), 'f: 1 of 2 lines skipped: line 2 (no tab)');
    assert.deepEqual(['fra.txt', 'pairs.TSV', 'data.CSV', 'x.csv.txt'].map(pairFormatOf), ['tsv', 'tsv', 'csv', 'tsv']);
  });

  it('a file with no usable pair is one clear error', () => {
    const e = throwsEngineError(() => readPairs('just text\nmore text\n\n', 'notes.txt'), 'too-short', /^notes\.txt has no usable source\/target pair: all 3 lines were skipped \(line 1: no tab; line 2: no tab; \.\.\.\)\. Write one pair per line as source<TAB>target/);
    assert.ok(e.message.includes('notes.txt'));
    throwsEngineError(() => readPairs('', 'empty.tsv'), 'too-short', /empty\.tsv has no usable source\/target pair/);
    throwsEngineError(() => readPairs('a,b\n', 'x.csv', { format: 'csv', sourceColumn: 0, targetColumn: 3 }), 'too-short', /line 1: 2 columns, needs 4.*Pick the source and target columns/);
  });

  it('CSV: quoted commas, doubled quotes and newlines inside quotes, line numbers of the records after them', () => {
    const text = 'id,en,fr\r\n1,"Hello, world","Bonjour, le monde"\r\n2,"She said ""hi""","Elle a dit\n« salut »"\r\n3,Bye,\r\n4,Yes,Oui\n';
    const recs = parseCsvRecords(text, 'x.csv');
    assert.deepEqual(recs.map((r) => r.line), [1, 2, 3, 5, 6]);
    assert.deepEqual(recs[2].cells, ['2', 'She said "hi"', 'Elle a dit\n« salut »']);
    const { pairs, bad, records } = parseCsvPairs(text, 'x.csv', { sourceColumn: 'en', targetColumn: 'fr' });
    assert.equal(records, 4);
    assert.deepEqual(pairs.map((p) => [p.line, p.source, p.target]), [
      [2, 'Hello, world', 'Bonjour, le monde'], [3, 'She said "hi"', 'Elle a dit\n« salut »'], [5, 'Bye', ''], [6, 'Yes', 'Oui'],
    ]);
    assert.deepEqual(bad, []);
    const d = readPairs(text, 'x.csv', { format: 'csv', sourceColumn: 1, targetColumn: 2, header: true, heldOutFraction: 0 });
    assert.deepEqual(d.bad, [{ line: 5, reason: 'empty target' }]);
    assert.deepEqual(d.train.map((e) => e.line), [2, 3, 6]);
  });

  it('CSV: an unknown column name and an unclosed quote are one clear error each', () => {
    throwsEngineError(() => parseCsvPairs('en,fr\na,b\n', 'x.csv', { sourceColumn: 'de', targetColumn: 'fr' }), 'bad-csv', /x\.csv has no column "de" for the source \(columns: "en", "fr"\)\. Pick one/);
    throwsEngineError(() => parseCsvRecords('a,b\nc,"d\ne,f\n', 'y.csv'), 'bad-csv', /y\.csv line 2 opens a quoted field that is never closed/);
    throwsEngineError(() => readPairs('a\tb', 'p.tsv', { maxLen: 0 }), 'bad-config', /maxLen is 0/);
  });
});

describe('seq2seq batches', () => {
  it('pads to the oracle layout: tgtIn = BOS + target, tgtOut = target + EOS, lengths with the EOS', () => {
    const b = makeBatch([{ src: [5, 6, 7], tgt: [8] }, { src: [9], tgt: [4, 3, 5] }]);
    assert.deepEqual([b.B, b.S, b.T], [2, 3, 4]);
    assert.deepEqual(Array.from(b.src), [5, 6, 7, 9, PAD, PAD]);
    assert.deepEqual(Array.from(b.srcLengths), [3, 1]);
    assert.deepEqual(Array.from(b.tgtIn), [BOS, 8, PAD, PAD, BOS, 4, 3, 5]);
    assert.deepEqual(Array.from(b.tgtOut), [8, EOS, PAD, PAD, 4, 3, 5, EOS]);
    assert.deepEqual(Array.from(b.tgtLengths), [2, 4]);
    assert.throws(() => makeBatch([{ src: [], tgt: [3] }]), /empty source/);
  });
});
