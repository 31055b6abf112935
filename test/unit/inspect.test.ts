import * as assert from 'node:assert/strict';
import { Network, type ModelSpec } from '../../src/engine/network';
import { Rng } from '../../src/engine/random';
import { initialize } from '../../src/engine/init';
import { compactGates, influenceOn, inspectSeries, inspectText, unitsByVariance, gateSummary } from '../../src/engine/inspect';
import type { CellKind } from '../../src/protocol/config';

const vocab = [' ', 'a', 'b', 'c', 'e', 'h', 't'];

function charModel(cell: CellKind, layers: number, embedding: number, seed: number): Network {
  const rng = new Rng(seed);
  const spec: ModelSpec = {
    cell, gruVariant: 'reset_after', rnnActivation: 'tanh', layers, hidden: 5,
    input: embedding > 0 ? { kind: 'embedding', vocab: vocab.length, dim: embedding } : { kind: 'onehot', vocab: vocab.length },
    head: { kind: 'softmax', classes: vocab.length }, dropout: 0,
  };
  const net = new Network(spec);
  initialize(net, rng, { hiddenInit: 'gaussian', hiddenScale: 1.1, forgetBias: 1 });
  for (let i = 0; i < net.params.size; i++) net.params.data[i] += 0.4 * rng.normal();
  return net;
}

/** log p(target | inputs) computed independently of head(): logits = W h + b, log-softmax by hand. */
function logProbAfter(net: Network, input: Int32Array | Float64Array, T: number, target: number): number {
  net.forward(input, T, 1, net.newState(1));
  const H = net.spec.hidden;
  const h = net.topOutputs().subarray((T - 1) * H, T * H);
  const W = net.params.view('head.weight');
  const b = net.params.view('head.bias');
  const V = b.length;
  const z = Array.from({ length: V }, (_, k) => b[k] + h.reduce((s, hj, j) => s + W[k * H + j] * hj, 0));
  const max = Math.max(...z);
  const lse = max + Math.log(z.reduce((s, zk) => s + Math.exp(zk - max), 0));
  return z[target] - lse;
}

/** The same network with a dense input layer, so a one-hot or embedded input can be perturbed. */
function denseTwin(net: Network): Network {
  const twin = new Network({ ...net.spec, input: { kind: 'dense', size: net.inputSize } });
  for (const t of twin.params.tensors) twin.params.view(t.name).set(net.params.view(t.name));
  return twin;
}

function inputVectors(net: Network, tokens: Int32Array): Float64Array {
  const I = net.inputSize;
  const x = new Float64Array(tokens.length * I);
  if (net.spec.input.kind === 'onehot') tokens.forEach((v, t) => (x[t * I + v] = 1));
  else {
    const emb = net.params.view('embedding.weight');
    tokens.forEach((v, t) => x.set(emb.subarray(v * I, (v + 1) * I), t * I));
  }
  return x;
}

describe('inspectText: what a model thinks of a text', () => {
  for (const cell of ['rnn', 'lstm', 'gru'] as CellKind[]) {
    it(`${cell}: surprisal is -log of the softmax computed directly, top-5 sorted and summing to <= 1`, () => {
      const net = charModel(cell, 2, 0, 7);
      const text = 'the cat ate the hat';
      const r = inspectText(net, vocab, text, { context: 'a ' });
      assert.equal(r.chars.length, text.length);
      assert.equal(r.contextSteps, 2);
      let worst = 0;
      for (let i = 0; i < text.length; i++) {
        const ch = r.chars[i];
        assert.ok(ch.known);
        const s = ch.step;
        const direct = -logProbAfter(net, r.tokens.subarray(0, s), s, r.tokens[s]);
        worst = Math.max(worst, Math.abs(direct - ch.surprisal!));
        assert.equal(ch.top.length, 5);
        for (let k = 1; k < 5; k++) assert.ok(ch.top[k - 1].p >= ch.top[k].p, `top-5 of char ${i} not sorted`);
        const sum = ch.top.reduce((a, t) => a + t.p, 0);
        assert.ok(sum <= 1 + 1e-12 && sum > 0, `top-5 sums to ${sum}`);
        // The actual char's probability is in the top-5 exactly when it is at least the 5th largest.
        const inTop = ch.top.find((t) => t.char === ch.char);
        if (inTop) assert.equal(inTop.p, ch.p);
        else assert.ok(ch.p! <= ch.top[4].p);
      }
      assert.ok(worst < 1e-12, `largest |surprisal - (-log p)| = ${worst}`);
      const g = gateSummary(r, 3);
      assert.equal(g.length, 2 * r.gateNames.length);
      for (const e of g) assert.ok(e.saturated >= 0 && e.saturated <= 1 && Number.isFinite(e.mean));
      // The compact form (what the worker sends) gives the same summary for every character.
      const full = r.chars.map((_, i) => gateSummary(r, i));
      compactGates(r);
      assert.ok(r.gates.every((a) => a.length === 0));
      r.chars.forEach((_, i) => assert.deepEqual(gateSummary(r, i), full[i]));
    });
  }

  it('without context the first character has no prediction; hidden states are those of the network', () => {
    const net = charModel('lstm', 1, 0, 3);
    const r = inspectText(net, vocab, 'abc');
    assert.equal(r.chars[0].p, null);
    assert.equal(r.chars[0].top.length, 0);
    assert.ok(r.chars[1].p! > 0);
    net.forward(Int32Array.from([1, 2]), 2, 1, net.newState(1));
    assert.deepEqual(Array.from(r.h[0].subarray(5, 10)), Array.from(net.layerOutputs(0).subarray(5, 10)));
    assert.deepEqual(Array.from(r.c[0].subarray(5, 10)), Array.from(net.layerCells(0).subarray(5, 10)));
  });

  it('unknown characters are marked, skipped (the state passes through) and never crash', () => {
    const net = charModel('gru', 1, 0, 5);
    const text = 'ab€Zc\u{1F600}a';
    const r = inspectText(net, vocab, text);
    assert.deepEqual(r.chars.map((c) => c.known), [true, true, false, false, true, false, true]);
    // The astral character is one character of width 2: offsets are UTF-16.
    assert.deepEqual(r.chars.map((c) => c.offset), [0, 1, 2, 3, 4, 5, 7]);
    for (const i of [2, 3, 5]) {
      assert.equal(r.chars[i].p, null);
      assert.ok(Number.isNaN(r.gates[0][i * 3 * 5]));
      // the carried state is that after the last known char
      assert.deepEqual(Array.from(r.h[0].subarray(i * 5, i * 5 + 5)), Array.from(r.h[0].subarray((i === 5 ? 4 : 1) * 5, (i === 5 ? 4 : 1) * 5 + 5)));
    }
    // 'c' is predicted from the state after 'ab': the same as in the text 'abc'.
    const plain = inspectText(net, vocab, 'abca');
    assert.equal(r.chars[4].p, plain.chars[2].p);
    assert.equal(r.chars[6].p, plain.chars[3].p);
    // Influence on a char after unknown ones: zero at the unknown ones.
    const inf = influenceOn(net, r, 6);
    assert.ok(inf[0] > 0 && inf[1] > 0 && inf[4] > 0);
    assert.equal(inf[2], 0);
    assert.equal(inf[3], 0);
    assert.equal(inf[5], 0);
    compactGates(r);
    assert.deepEqual(gateSummary(r, 2), []);
    assert.equal(gateSummary(r, 4).length, 3);
    // Only unknown characters: nothing fed, nothing thrown.
    const none = inspectText(net, vocab, 'XYZ');
    assert.ok(none.chars.every((c) => !c.known && c.p === null));
    assert.equal(influenceOn(net, none, 2).every((v) => v === 0), true);
  });

  for (const [cell, embedding] of [['rnn', 0], ['lstm', 0], ['gru', 0], ['lstm', 3]] as [CellKind, number][]) {
    it(`${cell}${embedding ? ' with embedding' : ''}: influence equals centered finite differences of log p w.r.t. the inputs; zero from the cursor on`, () => {
      const net = charModel(cell, 2, embedding, 11);
      const text = 'the bat ate';
      const r = inspectText(net, vocab, text);
      const target = 8;
      const inf = influenceOn(net, r, target);
      const twin = denseTwin(net);
      const I = net.inputSize;
      const x = inputVectors(net, r.tokens.subarray(0, target));
      const eps = 1e-6;
      let worst = 0;
      for (let s = 0; s < target; s++) {
        let sq = 0;
        for (let k = 0; k < I; k++) {
          const v = x[s * I + k];
          x[s * I + k] = v + eps;
          const up = logProbAfter(twin, x, target, r.tokens[target]);
          x[s * I + k] = v - eps;
          const down = logProbAfter(twin, x, target, r.tokens[target]);
          x[s * I + k] = v;
          sq += ((up - down) / (2 * eps)) ** 2;
        }
        const fd = Math.sqrt(sq);
        worst = Math.max(worst, Math.abs(fd - inf[s]) / Math.max(1e-3, fd));
        assert.ok(inf[s] > 0, `influence of char ${s} is 0`);
      }
      assert.ok(worst < 1e-6, `largest relative difference ${worst}`);
      for (let s = target; s < text.length; s++) assert.equal(inf[s], 0, `influence at ${s} (after the cursor) is ${inf[s]}`);
      // The dense twin agrees with the token network itself (same log p).
      assert.ok(Math.abs(logProbAfter(twin, x, target, r.tokens[target]) + r.chars[target].surprisal!) < 1e-12);
    });
  }

  it('units sorted by variance over the text', () => {
    const net = charModel('lstm', 2, 0, 13);
    const r = inspectText(net, vocab, 'the cat ate the bat');
    const units = unitsByVariance(r);
    assert.equal(units.length, 2 * 2 * 5);
    for (let i = 1; i < units.length; i++) assert.ok(units[i - 1].variance >= units[i].variance);
    assert.ok(units[0].variance > 0);
  });
});

describe('inspectSeries: one-step-ahead forecasts per row', () => {
  it('predicts each row from the rows before it, in raw units, and skips unreadable rows', () => {
    const rng = new Rng(3);
    const net = new Network({ cell: 'gru', gruVariant: 'reset_after', rnnActivation: 'tanh', layers: 1, hidden: 4, input: { kind: 'dense', size: 1 }, head: { kind: 'linear', outputs: 1 }, dropout: 0 });
    initialize(net, rng, { hiddenInit: 'orthogonal', hiddenScale: 1, forgetBias: 1 });
    const series = { columns: ['value'], mean: [10], std: [2] };
    const lines = ['2020-01,8', '2020-02,12', '2020-03,oops', '2020-04,11'];
    const r = inspectSeries(net, series, lines, ['month', 'value']);
    assert.equal(r.rows[0].predicted, null);
    assert.match(r.rows[2].problem!, /not a number/);
    // row 3 is predicted from rows 0 and 1 (row 2 skipped)
    net.forward(Float64Array.from([-1, 1]), 2, 1, net.newState(1));
    net.head(new Float64Array(2), { backward: false });
    const expected = net.headOutputs()[1] * 2 + 10;
    assert.ok(Math.abs(r.rows[3].predicted![0] - expected) < 1e-12);
    assert.ok(Math.abs(r.rows[3].error![0] - (11 - expected)) < 1e-12);
    assert.ok(Number.isFinite(r.rmse[0]));
  });
  it('reads rows with the CSV rules training uses: a quoted comma stays in its cell; an open quote is a problem, not a crash', () => {
    const net = new Network({ cell: 'rnn', gruVariant: 'reset_after', rnnActivation: 'tanh', layers: 1, hidden: 3, input: { kind: 'dense', size: 1 }, head: { kind: 'linear', outputs: 1 }, dropout: 0 });
    initialize(net, new Rng(5), { hiddenInit: 'orthogonal', hiddenScale: 1, forgetBias: 1 });
    const series = { columns: ['value'], mean: [0], std: [1] };
    const r = inspectSeries(net, series, ['"Jan, 2020",1.5', '"Feb, 2020",2.5', '"Mar, 2020,3'], ['month', 'value']);
    assert.deepStrictEqual(r.rows.map((x) => x.actual?.[0] ?? null), [1.5, 2.5, null]);
    assert.match(r.rows[2].problem!, /quote is left open/);
  });
});
