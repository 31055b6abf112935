/**
 * Decoders on hand-written StepDecoders whose right answers are known: a transition table over
 * prefixes (where beam search beats greedy, by hand), random tables checked against exhaustive
 * search over every sequence, and a sampler checked against its softmax(log p / τ) frequencies.
 */
import * as assert from 'node:assert/strict';
import { Rng } from '../../src/engine/random';
import { beamSearch, greedyDecode, lengthPenalty, maxSteps, sampleDecode, type StepDecoder } from '../../src/engine/seq2seq/decoding';
import { BOS, EOS } from '../../src/engine/seq2seq/vocab';

const A = 3;
const B = 4;
const C = 5;
const V = 6;

/** The state is the frozen prefix of tokens fed so far (BOS first), so a decoder that mutated it would throw. */
type Prefix = readonly number[];

/**
 * A decoder from a table: prefix (tokens after BOS, joined by ",") -> probabilities of A, B, C, EOS;
 * a prefix not in the table gives EOS with probability 1. Attention: one-hot at (step mod src.length).
 */
function tableDecoder(table: Record<string, { A?: number; B?: number; C?: number; EOS?: number }>, calls = { n: 0 }): StepDecoder<Prefix> {
  return {
    start: (src) => Object.freeze([src.length, BOS]),
    step(state, token) {
      calls.n++;
      const [n, ...fed] = state;
      const prefix = Object.freeze([n, ...fed, token]);
      const key = [...fed, token].filter((t) => t !== BOS).join(',');
      const row = table[key] ?? { EOS: 1 };
      const p = new Float64Array(V);
      p[A] = row.A ?? 0;
      p[B] = row.B ?? 0;
      p[C] = row.C ?? 0;
      p[EOS] = row.EOS ?? 0;
      const attention = new Float64Array(n);
      attention[(prefix.length - 3) % n] = 1;
      return { logProbs: p.map(Math.log), attention, state: prefix };
    },
  };
}

type Table = Record<string, { A: number; B: number; C: number; EOS: number }>;

/** A random table over every prefix shorter than `depth` (EOS drawn `eosScale` times smaller); longer prefixes end. */
function randomTable(rng: Rng, depth: number, eosScale: number): Table {
  const table: Table = {};
  const fill = (prefix: number[]) => {
    if (prefix.length >= depth) return;
    const raw = [rng.uniform(), rng.uniform(), rng.uniform(), rng.uniform() * eosScale].map((x) => x + 0.01);
    const s = raw.reduce((a, b) => a + b, 0);
    table[prefix.join(',')] = { A: raw[0] / s, B: raw[1] / s, C: raw[2] / s, EOS: raw[3] / s };
    for (const t of [A, B, C]) fill([...prefix, t]);
  };
  fill([]);
  return table;
}

// Greedy takes A (0.6), then C (0.55), then EOS: P = 0.6 * 0.55 = 0.33.
// B (0.4) then EOS (0.9) has P = 0.36: beam search (width 2, α = 0) finds it, greedy cannot.
const TRAP = { '': { A: 0.6, B: 0.4 }, '3': { C: 0.55, EOS: 0.45 }, '4': { EOS: 0.9, C: 0.1 } };

describe('seq2seq decoding', () => {
  it('GNMT length penalty and the length limit', () => {
    assert.equal(lengthPenalty(1, 0.6), 1);
    assert.ok(Math.abs(lengthPenalty(3, 1) - 8 / 6) < 1e-15);
    assert.ok(Math.abs(lengthPenalty(10, 0.6) - Math.pow(15 / 6, 0.6)) < 1e-15);
    assert.equal(lengthPenalty(7, 0), 1);
    assert.equal(maxSteps(10), 20); // ceil(1.5 * 10) + 5
    assert.equal(maxSteps(7, { maxLenRatio: 1, maxLenExtra: 1 }), 8);
    assert.equal(maxSteps(0, { maxLenRatio: 1, maxLenExtra: 0 }), 1);
  });

  it('greedy follows the most likely token, and its attention has one row per step, EOS included', () => {
    const g = greedyDecode(tableDecoder(TRAP), [7, 8, 9]);
    assert.deepEqual(g.tokens, [A, C]);
    assert.ok(g.finished);
    assert.ok(Math.abs(g.logProb - Math.log(0.33)) < 1e-12);
    assert.equal(g.attention.length, 3);
    assert.deepEqual(g.attention.map((r) => Array.from(r)), [[1, 0, 0], [0, 1, 0], [0, 0, 1]]);
  });

  it('beam search beats greedy where the first step misleads: [B] with P = 0.36 over [A, C] with 0.33', () => {
    const calls = { n: 0 };
    const b = beamSearch(tableDecoder(TRAP, calls), [7, 8, 9], { width: 2, alpha: 0 });
    assert.deepEqual(b.tokens, [B]);
    assert.ok(b.finished);
    assert.ok(Math.abs(b.logProb - Math.log(0.36)) < 1e-12);
    assert.equal(b.score, b.logProb);
    assert.equal(b.attention.length, 2);
    // Step 1: one call; step 2: two. Then the best finished, log 0.36, beats both live bounds (log 0.33, log 0.04): stop.
    assert.equal(calls.n, 3);
    // Width 1 is greedy.
    const one = beamSearch(tableDecoder(TRAP), [7, 8, 9], { width: 1, alpha: 0 });
    assert.deepEqual(one.tokens, [A, C]);
  });

  it('the length penalty turns the choice: with α = 1, [A, C] scores log 0.33 / (8/6) over log 0.36 / (7/6)', () => {
    const b = beamSearch(tableDecoder(TRAP), [7, 8], { width: 2, alpha: 1 });
    assert.deepEqual(b.tokens, [A, C]);
    assert.ok(Math.abs(b.score - Math.log(0.33) / (8 / 6)) < 1e-12);
    assert.deepEqual(b.hypotheses.map((h) => h.tokens), [[A, C], [B], [B, C]]);
    assert.ok(Math.abs(b.hypotheses[1].score - Math.log(0.36) / (7 / 6)) < 1e-12);
    assert.ok(Math.log(0.33) / (8 / 6) > Math.log(0.36) / (7 / 6));
  });

  it('ties go to the lower token id, in greedy and in beam search', () => {
    const tie = { '': { A: 0.5, B: 0.5 } };
    assert.deepEqual(greedyDecode(tableDecoder(tie), [1]).tokens, [A]);
    const b = beamSearch(tableDecoder(tie), [1], { width: 2, alpha: 0.6 });
    assert.deepEqual(b.tokens, [A]);
    assert.deepEqual(b.hypotheses.map((h) => h.tokens), [[A], [B]]);
  });

  it('an output that never ends stops at the length limit, unfinished', () => {
    const forever: StepDecoder<number> = {
      start: () => 0,
      step: (s) => ({ logProbs: Float64Array.from([0, 0, -5, -0.01, -9, -9].map((x, i) => (i < 2 ? -Infinity : x))), state: s + 1 }),
    };
    const g = greedyDecode(forever, [1, 2], { maxLenRatio: 2, maxLenExtra: 1 });
    assert.deepEqual(g.tokens, [A, A, A, A, A]);
    assert.equal(g.finished, false);
    assert.deepEqual(g.attention, []);
    const b = beamSearch(forever, [1, 2], { width: 3, alpha: 0, maxLenRatio: 2, maxLenExtra: 1 });
    // log p(EOS) = -5 after any prefix: [EOS] alone (-5) beats every longer finished one.
    assert.deepEqual(b.tokens, []);
    assert.ok(b.finished);
    assert.equal(b.logProb, -5);
  });

  it('beam search with a wide beam finds the exhaustive optimum on 50 random tables (α = 0.6 and 0)', () => {
    const rng = new Rng(5);
    for (let k = 0; k < 50; k++) {
      // At length 4 only EOS.
      const table = randomTable(rng, 4, 0.5);
      for (const alpha of [0.6, 0]) {
        // Exhaustive: every finished sequence of up to 4 tokens.
        let best = -Infinity;
        let bestSeq: number[] = [];
        const walk = (prefix: number[], logP: number) => {
          const row = table[prefix.join(',')] ?? { A: 0, B: 0, C: 0, EOS: 1 };
          const score = (logP + Math.log(row.EOS)) / lengthPenalty(prefix.length + 1, alpha);
          if (score > best) [best, bestSeq] = [score, prefix];
          if (prefix.length < 4) for (const [t, p] of [[A, row.A], [B, row.B], [C, row.C]]) walk([...prefix, t], logP + Math.log(p));
        };
        walk([], 0);
        const b = beamSearch(tableDecoder(table), [1, 2, 3], { width: 200, alpha, maxLenRatio: 0, maxLenExtra: 5 });
        assert.deepEqual(b.tokens, bestSeq, `table ${k}, alpha ${alpha}`);
        assert.ok(Math.abs(b.score - best) < 1e-12);
        // Width 1 with α = 0 is greedy (with α > 0 a live hypothesis may outscore an early EOS).
        if (alpha === 0) assert.deepEqual(beamSearch(tableDecoder(table), [1, 2, 3], { width: 1, alpha }).tokens, greedyDecode(tableDecoder(table), [1, 2, 3]).tokens);
      }
    }
  });

  it('sampling: frequencies follow softmax(log p / τ), computed without underflow at log p ≈ -1000', () => {
    // log p = -1000 + log q: exp(log p) underflows to 0, the shifted weights do not.
    const q = [0.5, 0.3, 0.2];
    const dec: StepDecoder<number> = {
      start: () => 0,
      step: (s) => ({ logProbs: Float64Array.from([-Infinity, -Infinity, -1000 + Math.log(1e-300), ...q.map((x) => -1000 + Math.log(x))]), state: s + 1 }),
    };
    for (const tau of [1, 2]) {
      const rng = new Rng(7);
      const counts = [0, 0, 0];
      const N = 20000;
      for (let i = 0; i < N; i++) {
        const out = sampleDecode(dec, [1], rng, { temperature: tau, maxLenRatio: 0, maxLenExtra: 1 });
        counts[out.tokens[0] - A]++;
      }
      const z = q.reduce((s, x) => s + Math.pow(x, 1 / tau), 0);
      // Binomial standard deviation at N = 20000 is at most 0.0036: 5 of them is 0.018.
      q.forEach((x, i) => assert.ok(Math.abs(counts[i] / N - Math.pow(x, 1 / tau) / z) < 0.018, `τ ${tau}: token ${i} ${counts[i] / N} vs ${Math.pow(x, 1 / tau) / z}`));
    }
  });

  it('sampling: a tiny temperature, and τ = 0, give greedy\'s output; the same seed the same sample', () => {
    const rng = new Rng(3);
    for (let k = 0; k < 20; k++) {
      const table = randomTable(rng, 3, 1);
      const g = greedyDecode(tableDecoder(table), [1, 2]);
      for (const tau of [1e-300, 1e-6, 0]) assert.deepEqual(sampleDecode(tableDecoder(table), [1, 2], new Rng(k), { temperature: tau }).tokens, g.tokens);
      const s1 = sampleDecode(tableDecoder(table), [1, 2], new Rng(k));
      const s2 = sampleDecode(tableDecoder(table), [1, 2], new Rng(k));
      assert.deepEqual(s1, s2);
    }
    assert.throws(() => sampleDecode(tableDecoder(TRAP), [1], new Rng(1), { temperature: -1 }), /temperature -1/);
    assert.throws(() => beamSearch(tableDecoder(TRAP), [1], { width: 0 }), /width 0/);
  });
});
