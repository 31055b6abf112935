/**
 * Seq2seq metrics against values worked by hand (written out below each case) and, for BLEU, an
 * independent implementation written from Papineni et al. (2002) directly: quadratic counting of
 * each distinct n-gram, no maps, products instead of log sums.
 */
import * as assert from 'node:assert/strict';
import { Rng } from '../../src/engine/random';
import { accuracyByLength, alignmentAccuracy, argmax, corpusBleu, exactMatch, tokenAccuracy } from '../../src/engine/seq2seq/metrics';

const w = (s: string): string[] => (s ? s.split(' ') : []);

/** BLEU-4 by the paper's text: count(g in hyp), clipped by count(g in ref), summed over the corpus. */
function referenceBleu(hyps: string[][], refs: string[][]): number {
  let c = 0;
  let r = 0;
  let product = 1;
  for (const h of hyps) c += h.length;
  for (const x of refs) r += x.length;
  for (let n = 1; n <= 4; n++) {
    let clipped = 0;
    let total = 0;
    hyps.forEach((h, i) => {
      const grams = (s: string[]) => Array.from({ length: Math.max(0, s.length - n + 1) }, (_, k) => s.slice(k, k + n).join(' '));
      const hg = grams(h);
      const rg = grams(refs[i]);
      total += hg.length;
      const done: string[] = [];
      for (const g of hg) {
        if (done.includes(g)) continue;
        done.push(g);
        clipped += Math.min(hg.filter((x) => x === g).length, rg.filter((x) => x === g).length);
      }
    });
    product *= total ? clipped / total : 0;
  }
  const bp = c > r ? 1 : c === 0 ? 0 : Math.exp(1 - r / c);
  return bp * Math.pow(product, 0.25);
}

describe('seq2seq metrics', () => {
  it('exact match counts whole sequences, length included', () => {
    assert.equal(exactMatch([[1, 2], [3], [4, 5]], [[1, 2], [3, 3], [4]]), 1 / 3);
    assert.equal(exactMatch([], []), 0);
    assert.throws(() => exactMatch([[1]], []), /1 hypotheses but 0 references/);
  });

  it('token accuracy: positions up to the reference length plus its end, micro-averaged', () => {
    // ref [1,2,3] vs hyp [1,9,3]: positions 1,0,1 and end 1 -> 3/4
    // ref [1,2] vs hyp [1,2,7,7]: 1,1 and end 0 (too long) -> 2/3
    // ref [5] vs hyp []: 0 and end 0 -> 0/2
    assert.equal(tokenAccuracy([[1, 9, 3], [1, 2, 7, 7], []], [[1, 2, 3], [1, 2], [5]]), 5 / 9);
    assert.equal(tokenAccuracy([[4, 4]], [[4, 4]]), 1);
    assert.equal(tokenAccuracy([['a']], [['a', 'b']]), 1 / 3);
  });

  it('BLEU-4 by hand: two sentences, p = 10/11, 7/9, 4/7, 2/5, BP 1, so BLEU = (16/99)^(1/4)', () => {
    // hyp "the cat sat on the mat" vs ref "the cat is on the mat":
    //   1-grams 5/6 (the x2, cat, on, mat), 2-grams 3/5 (the cat, on the, the mat), 3-grams 1/4 (on the mat), 4-grams 0/3
    // hyp "a b c d e" = ref: 5/5, 4/4, 3/3, 2/2.  c = r = 11.
    const hyps = [w('the cat sat on the mat'), w('a b c d e')];
    const refs = [w('the cat is on the mat'), w('a b c d e')];
    const b = corpusBleu(hyps, refs);
    assert.deepEqual(b.matches, [10, 7, 4, 2]);
    assert.deepEqual(b.totals, [11, 9, 7, 5]);
    assert.equal(b.brevityPenalty, 1);
    assert.ok(Math.abs(b.bleu - Math.pow(16 / 99, 0.25)) < 1e-15, `${b.bleu}`);
    assert.ok(Math.abs(b.bleu - 0.6340466277) < 1e-9);
    assert.equal(b.recipe, 'BLEU-4, corpus, uniform weights, no smoothing, tokens: words');
    assert.equal(corpusBleu(hyps, refs, 'characters').recipe, 'BLEU-4, corpus, uniform weights, no smoothing, tokens: characters');
    // The first sentence alone has no 4-gram match: with no smoothing, BLEU is 0.
    assert.equal(corpusBleu([hyps[0]], [refs[0]]).bleu, 0);
  });

  it('BLEU-4 by hand: brevity penalty exp(1 - 6/4) and the clipping of "the the the ..."', () => {
    const short = corpusBleu([w('a b c d')], [w('a b c d e f')]);
    assert.deepEqual(short.precisions, [1, 1, 1, 1]);
    assert.ok(Math.abs(short.bleu - Math.exp(-0.5)) < 1e-15);
    assert.equal(short.hypLength, 4);
    assert.equal(short.refLength, 6);
    // Papineni et al.'s example: 7 x "the" against a reference with 2 "the": p_1 = 2/7.
    const clip = corpusBleu([w('the the the the the the the')], [w('the cat is on the mat')]);
    assert.equal(clip.precisions[0], 2 / 7);
    // A longer hypothesis gets no penalty; an empty one scores 0.
    assert.equal(corpusBleu([w('a b c d e f g')], [w('a b c d e f')]).brevityPenalty, 1);
    assert.equal(corpusBleu([[]], [w('a')]).bleu, 0);
    // Ids work too, and ids never equal strings.
    assert.equal(corpusBleu([[3, 4, 5, 6]], [[3, 4, 5, 6]]).bleu, 1);
    assert.equal(corpusBleu([['3', '4', '5', '6']], [[3, 4, 5, 6]]).bleu, 0);
  });

  it('BLEU-4 agrees with the independent implementation on 200 random corpora to 1e-12', () => {
    const rng = new Rng(42);
    const vocab = 'a b c d e f'.split(' ');
    const sentence = (len: number) => Array.from({ length: len }, () => vocab[rng.int(vocab.length)]);
    let nonzero = 0;
    let penalised = 0;
    for (let k = 0; k < 200; k++) {
      const n = 1 + rng.int(6);
      const refs = Array.from({ length: n }, () => sentence(3 + rng.int(12)));
      const hyps = refs.map((r) => (rng.uniform() < 0.5 ? r.map((t) => (rng.uniform() < 0.3 ? vocab[rng.int(vocab.length)] : t)) : sentence(2 + rng.int(12))));
      const ours = corpusBleu(hyps, refs);
      const theirs = referenceBleu(hyps, refs);
      assert.ok(Math.abs(ours.bleu - theirs) < 1e-12, `corpus ${k}: ${ours.bleu} vs ${theirs}`);
      if (theirs > 0) nonzero++;
      if (ours.brevityPenalty < 1) penalised++;
    }
    assert.ok(nonzero > 100 && penalised > 20, `${nonzero} nonzero, ${penalised} with a brevity penalty`);
  });

  it('accuracy by source length: buckets of a width from the shortest length, empty ones left out', () => {
    const lens = [5, 6, 7, 9, 5];
    const refs = [[1], [2], [3], [4], [5]];
    const hyps = [[1], [9], [3], [4], [9]];
    // Bucket 5-6 holds examples 0, 1, 4: one exact; tokens 2/2 + 1/2 + 1/2 (a wrong token, a right end).
    assert.deepEqual(accuracyByLength(lens, hyps, refs, 2), [
      { lo: 5, hi: 6, count: 3, exactMatch: 1 / 3, tokenAccuracy: 4 / 6 },
      { lo: 7, hi: 8, count: 1, exactMatch: 1, tokenAccuracy: 1 },
      { lo: 9, hi: 10, count: 1, exactMatch: 1, tokenAccuracy: 1 },
    ]);
    assert.deepEqual(accuracyByLength(lens, hyps, refs).map((b) => [b.lo, b.hi, b.count]), [[5, 5, 2], [6, 6, 1], [7, 7, 1], [9, 9, 1]]);
    assert.deepEqual(accuracyByLength([], [], []), []);
    assert.throws(() => accuracyByLength(lens, hyps, refs, 0), /bucket width 0/);
  });

  it('alignment accuracy: argmax of each row against the known positions, over positions that have one', () => {
    const rows = (r: number[][]) => r.map((x) => Float64Array.from(x));
    // Reversal of a 3-token source: anti-diagonal. Row 2 attends to position 1: wrong.
    // The third target position has no alignment (like EOS or a date's dash) and is not counted.
    const a = alignmentAccuracy(
      [rows([[0.1, 0.2, 0.7], [0.2, 0.6, 0.2], [0.1, 0.8, 0.1]]), rows([[0.5, 0.5], [0.9, 0.1], [0, 1]])],
      [[[2], [1], [0]], [[0, 1], [1], []]],
    );
    // example 1: 2 of 3; example 2: row 0 ties 0.5/0.5 -> argmax 0, in [0, 1]: right; row 1 -> 0, not 1: wrong.
    assert.deepEqual(a, { accuracy: 3 / 5, correct: 3, total: 5 });
    // A decoded output shorter than the reference: the missing rows count as wrong.
    assert.deepEqual(alignmentAccuracy([rows([[1, 0]])], [[[0], [1]]]), { accuracy: 0.5, correct: 1, total: 2 });
    assert.equal(argmax([1, 3, 3, 2]), 1);
    assert.deepEqual(alignmentAccuracy([[]], [[[], []]]), { accuracy: 0, correct: 0, total: 0 });
  });
});
