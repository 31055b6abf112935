import * as assert from 'node:assert/strict';
import { Network, type ModelSpec } from '../../src/engine/network';
import { Rng } from '../../src/engine/random';
import { initialize } from '../../src/engine/init';
import { clipByGlobalNorm, clipByValue, Optimizer, DEFAULT_OPTIMIZER } from '../../src/engine/optim';
import { decodeText, seriesDataset, textDataset } from '../../src/engine/data';
import { EngineError } from '../../src/engine/errors';
import { validateConfig, DEFAULT_CONFIG } from '../../src/engine/config';
import { Trainer } from '../../src/engine/trainer';
import { encodeSafetensors, decodeSafetensors } from '../../src/engine/safetensors';
import type { CellKind, GruVariant, RunConfig } from '../../src/protocol/config';
import { expInto, gemmNN, l2, sigmoidInto, tanhInto } from '../../src/engine/linalg';

type Case = { cell: CellKind; variant: GruVariant; layers: number; head: 'softmax' | 'linear'; relu?: boolean; batch?: number; hidden?: number; steps?: number };

function lossOf(net: Network, input: Int32Array | Float64Array, targets: Int32Array | Float64Array, T: number, B: number, h0: Float64Array[], c0: Float64Array[]): number {
  const s = net.newState(B);
  h0.forEach((h, l) => s.h[l].set(h));
  c0.forEach((c, l) => s.c[l].set(c));
  net.forward(input, T, B, s);
  return net.head(targets, { backward: false });
}

describe('centered finite differences (float64) on random small models', () => {
  const cases: Case[] = [];
  for (const cell of ['rnn', 'lstm', 'gru'] as CellKind[]) {
    for (const variant of (cell === 'gru' ? ['reset_after', 'reset_before'] : ['reset_after']) as GruVariant[]) {
      for (const layers of [1, 2, 3]) for (const head of ['softmax', 'linear'] as const) cases.push({ cell, variant, layers, head });
    }
  }
  cases.push({ cell: 'rnn', variant: 'reset_after', layers: 2, head: 'softmax', relu: true });
  // Batch 1 runs its recurrent products as matrix-vector ones: gemmNT's 1 x 8 tiles forward,
  // gemmNN's passes of eight rows of W_hh backward. With H = 9 both end in partial tiles and
  // passes (W_hh has G*H = 9, 18, 27 or 36 rows).
  for (const [cell, variant] of [['rnn', 'reset_after'], ['lstm', 'reset_after'], ['gru', 'reset_after'], ['gru', 'reset_before']] as [CellKind, GruVariant][]) {
    for (const head of ['softmax', 'linear'] as const) {
      cases.push({ cell, variant, layers: 2, head, batch: 1, hidden: 9, steps: 6 });
    }
  }
  for (const c of cases) {
    const label = `${c.cell}${c.cell === 'gru' ? ` ${c.variant}` : ''}${c.relu ? ' relu' : ''}, ${c.layers} layer(s), ${c.head} head${c.batch ? `, batch ${c.batch}, hidden ${c.hidden}, ${c.steps} steps` : ''}`;
    it(`${label}: every parameter gradient matches`, () => {
      const rng = new Rng(42 + c.layers);
      const T = c.steps ?? 4, B = c.batch ?? 2, H = c.hidden ?? 3, V = 4, I = 3;
      const spec: ModelSpec = {
        cell: c.cell, gruVariant: c.variant, rnnActivation: c.relu ? 'relu' : 'tanh', layers: c.layers, hidden: H,
        input: c.head === 'softmax' ? { kind: 'onehot', vocab: V } : { kind: 'dense', size: I },
        head: c.head === 'softmax' ? { kind: 'softmax', classes: V } : { kind: 'linear', outputs: 2 }, dropout: 0,
      };
      const net = new Network(spec);
      initialize(net, rng, { hiddenInit: 'gaussian', hiddenScale: 1.2, forgetBias: 1 });
      for (let i = 0; i < net.params.size; i++) net.params.data[i] += 0.3 * rng.normal();
      const input = c.head === 'softmax' ? Int32Array.from({ length: T * B }, () => rng.int(V)) : Float64Array.from({ length: T * B * I }, () => rng.normal());
      const targets = c.head === 'softmax' ? Int32Array.from({ length: T * B }, () => rng.int(V)) : Float64Array.from({ length: T * B * 2 }, () => rng.normal());
      const h0 = Array.from({ length: c.layers }, () => Float64Array.from({ length: B * H }, () => 0.5 * rng.normal()));
      const c0 = Array.from({ length: c.layers }, () => Float64Array.from({ length: c.cell === 'lstm' ? B * H : 0 }, () => 0.5 * rng.normal()));
      lossOf(net, input, targets, T, B, h0, c0);
      net.params.zeroGrad();
      net.head(targets, { backward: true });
      net.backward();
      const analytic = Float64Array.from(net.params.grad);
      const eps = 1e-6;
      let worst = 0;
      let worstName = '';
      for (const t of net.params.tensors) {
        for (let i = t.offset; i < t.offset + t.size; i++) {
          const w = net.params.data[i];
          net.params.data[i] = w + eps;
          const lp = lossOf(net, input, targets, T, B, h0, c0);
          net.params.data[i] = w - eps;
          const lm = lossOf(net, input, targets, T, B, h0, c0);
          net.params.data[i] = w;
          const fd = (lp - lm) / (2 * eps);
          // Round-off of a centered difference in float64 is about 1e-16 / eps = 1e-10 absolute.
          // A NaN anywhere (a read past a buffer, say) is the worst error, not one that compares false.
          const err = Number.isFinite(fd) && Number.isFinite(analytic[i])
            ? Math.max(0, Math.abs(fd - analytic[i]) - 1e-9) / Math.max(1e-6, Math.abs(fd) + Math.abs(analytic[i]))
            : Infinity;
          if (!(err <= worst)) (worst = err), (worstName = `${t.name}[${i - t.offset}] fd=${fd} ours=${analytic[i]}`);
        }
      }
      assert.ok(worst < 1e-5, `largest relative difference ${worst.toExponential(2)} at ${worstName}`);
    });
  }
});

describe('batch 1 (matrix-vector products) and batch 2 (register tiles) agree', () => {
  for (const cell of ['rnn', 'lstm', 'gru'] as CellKind[]) {
    for (const variant of (cell === 'gru' ? ['reset_after', 'reset_before'] : ['reset_after']) as GruVariant[]) {
      it(`${cell}${cell === 'gru' ? ` ${variant}` : ''}: one 8-step forward equals two 4-step forwards with the state carried; the batch-1 backward (gemmNN on W_hh) equals a batch-2 one (gemmNT on W_hh^T) on the sequence twice`, () => {
        const H = 9, V = 5, T = 8;
        const spec: ModelSpec = { cell, gruVariant: variant, rnnActivation: 'tanh', layers: 2, hidden: H, input: { kind: 'onehot', vocab: V }, head: { kind: 'softmax', classes: V }, dropout: 0 };
        const net = new Network(spec);
        const rng = new Rng(5);
        initialize(net, rng, { hiddenInit: 'gaussian', hiddenScale: 1.2, forgetBias: 1 });
        const tokens = Int32Array.from({ length: T }, () => rng.int(V));
        const whole = net.newState(1);
        net.forward(tokens, T, 1, whole);
        const top = Array.from(net.topOutputs());
        const halves = net.newState(1);
        net.forward(tokens.subarray(0, 4), 4, 1, halves);
        const first = Array.from(net.topOutputs());
        net.forward(tokens.subarray(4), 4, 1, halves);
        const parts = [...first, ...Array.from(net.topOutputs())];
        assert.equal(parts.length, top.length);
        top.forEach((x, i) => assert.ok(Math.abs(x - parts[i]) <= 1e-13, `h[${i}] ${x} vs ${parts[i]}`));
        whole.h.forEach((h, l) => h.forEach((x, i) => assert.ok(Math.abs(x - halves.h[l][i]) <= 1e-13, `final h layer ${l}`)));
        // The backward: batch 1 runs gemmNN's single-row passes, batch 2 gemmNT. With the same
        // sequence in both streams the mean loss, and so every gradient, is the same.
        const targets = Int32Array.from({ length: T }, () => rng.int(V));
        const gradsOf = (B: number) => {
          const twice = (a: Int32Array) => Int32Array.from({ length: T * B }, (_, r) => a[Math.floor(r / B)]);
          net.forward(twice(tokens), T, B, net.newState(B));
          net.params.zeroGrad();
          net.head(twice(targets), { backward: true });
          net.backward();
          return Array.from(net.params.grad);
        };
        const one = gradsOf(1);
        const two = gradsOf(2);
        assert.ok(one.some((x) => x !== 0));
        one.forEach((x, i) => assert.ok(Math.abs(x - two[i]) <= 1e-13 * (1 + Math.abs(x)), `gradient ${i}: ${x} vs ${two[i]}`));
      });
    }
  }
});

describe('kernels against plain formulas', () => {
  // Distance in units in the last place of b (its spacing at b's binade).
  const ulps = (a: number, b: number): number => {
    if (Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b))) return 0;
    if (!Number.isFinite(a) || !Number.isFinite(b)) return Infinity;
    const spacing = b === 0 ? Number.MIN_VALUE : Math.max(Number.MIN_VALUE, 2 ** (Math.floor(Math.log2(Math.abs(b))) - 52));
    return Math.abs(a - b) / spacing;
  };
  const rng = new Rng(11);
  const scales = [1e-9, 1e-3, 0.3, 0.625, 1, 3, 22, 40, 700, 760];
  const xs = Float64Array.from({ length: 200_000 }, (_, i) => (2 * rng.uniform() - 1) * scales[i % scales.length]);
  const special = [0, -0, NaN, Infinity, -Infinity, 0.625, -0.625, 22, -22, 22.5, 700, -700, 709.7, 710, -745, -746, 5e-324, -5e-324, 1e-300];
  const all = Float64Array.from([...xs, ...special]);
  const worst = (f: (x: number) => number, out: Float64Array): { u: number; at: number } => {
    let u = 0, at = 0;
    all.forEach((x, i) => {
      const d = ulps(out[i], f(x));
      if (!(d <= u)) (u = d), (at = x);
    });
    return { u, at };
  };
  it('expInto gives Math.exp(x - shift) to 1 ulp, including overflow, subnormals and NaN', () => {
    const out = new Float64Array(all.length);
    expInto(all, 0, out, 0, all.length, 0);
    const { u, at } = worst(Math.exp, out);
    assert.ok(u <= 1, `${u} ulp at ${at}`);
    const shifted = new Float64Array(3);
    expInto(Float64Array.from([1, 2, 3]), 0, shifted, 0, 3, 3);
    assert.deepEqual([...shifted].map((v, i) => ulps(v, Math.exp(i - 2))), [0, 0, 0]);
  });
  it('sigmoidInto gives 1 / (1 + Math.exp(-x)) to 2 ulp', () => {
    const out = new Float64Array(all.length);
    sigmoidInto(all, 0, out, 0, all.length);
    const { u, at } = worst((x) => 1 / (1 + Math.exp(-x)), out);
    assert.ok(u <= 2, `${u} ulp at ${at}`);
  });
  it('tanhInto gives Math.tanh to 2 ulp, in place too, and keeps the sign of its argument', () => {
    const out = Float64Array.from(all);
    tanhInto(out, 0, out, 0, out.length);
    const { u, at } = worst(Math.tanh, out);
    assert.ok(u <= 2, `${u} ulp at ${at}`);
    all.forEach((x, i) => assert.ok(Number.isNaN(x) || x === 0 || Math.sign(out[i]) === Math.sign(x), `tanh(${x}) = ${out[i]}`));
  });
  it('the runs start at their offsets and stop after n values', () => {
    const src = Float64Array.from([9, 0.5, -1, 30, 9]);
    const dst = Float64Array.from([7, 7, 7, 7, 7]);
    tanhInto(src, 1, dst, 2, 3);
    assert.deepEqual([...dst].map((v, i) => (i < 2 ? v : ulps(v, Math.tanh(src[i - 1])))), [7, 7, 0, 0, 0]);
    sigmoidInto(src, 0, dst, 0, 1);
    assert.equal(dst[1], 7);
  });
  it('l2 sums every value, at any length and offset', () => {
    for (const n of [0, 1, 3, 4, 5, 8, 13]) {
      const v = Float64Array.from({ length: n + 2 }, (_, i) => i + 1);
      let s = 0;
      for (let i = 1; i <= n; i++) s += v[i] * v[i];
      assert.equal(l2(v, 1, n + 1), Math.sqrt(s), `n = ${n}`);
    }
    // Its bounds are masked below 2^30: a bound the mask would change is refused, not wrapped.
    assert.throws(() => l2(new Float64Array(4), -1, 4), RangeError);
    assert.throws(() => l2(new Float64Array(4), 0, 2 ** 30 + 2), RangeError);
  });
  it('gemmNN, one row of A: every row of B counted once (passes of 8, then single rows), beta 0 and 1', () => {
    for (const K of [1, 3, 4, 7, 8, 9, 12, 17]) {
      const N = 5;
      const A = Float64Array.from({ length: K + 1 }, () => rng.normal());
      const B = Float64Array.from({ length: K * N }, () => rng.normal());
      const C = Float64Array.from({ length: N }, () => 1);
      gemmNN(1, N, K, A, 1, K, B, 0, N, C, 0, N, 1);
      for (let j = 0; j < N; j++) {
        let s = 1;
        for (let k = 0; k < K; k++) s += A[1 + k] * B[k * N + j];
        assert.ok(Math.abs(C[j] - s) <= 1e-13 * (1 + Math.abs(s)), `K = ${K}, j = ${j}: ${C[j]} vs ${s}`);
      }
    }
  });
  it('gemmNN, one row of A: a NaN in B reaches C even where its row of A is 0 (0 * NaN = NaN, in the passes and in the single rows)', () => {
    for (const K of [3, 8, 9, 17]) {
      for (let bad = 0; bad < K; bad++) {
        const A = Float64Array.from({ length: K }, (_, k) => (k === bad ? 0 : 1));
        const B = new Float64Array(K * 2).fill(1);
        B[bad * 2 + 1] = NaN;
        const C = new Float64Array(2);
        gemmNN(1, 2, K, A, 0, K, B, 0, 2, C, 0, 2, 0);
        assert.equal(C[0], K - 1, `K = ${K}, row ${bad}`);
        assert.ok(Number.isNaN(C[1]), `K = ${K}, row ${bad}: ${C[1]}`);
      }
    }
  });
});

describe('gradient clipping, known answers', () => {
  it('by global norm uses the true L2 norm (not its square) and scales to the threshold', () => {
    const g = Float64Array.from([3, 4]);
    const r = clipByGlobalNorm(g, 1);
    assert.equal(r.norm, 5);
    assert.ok(r.clipped);
    assert.ok(Math.abs(g[0] - 0.6) < 1e-15 && Math.abs(g[1] - 0.8) < 1e-15);
    assert.ok(Math.abs(r.clippedNorm - 1) < 1e-15);
  });
  it('by global norm leaves a gradient under the threshold alone', () => {
    const g = Float64Array.from([3, 4]);
    const r = clipByGlobalNorm(g, 5.5);
    assert.deepEqual([...g], [3, 4]);
    assert.equal(r.clipped, false);
    assert.equal(r.clippedNorm, 5);
  });
  it('by value clamps each component to [-t, t]', () => {
    const g = Float64Array.from([3, -4, 0.5]);
    const r = clipByValue(g, 1);
    assert.deepEqual([...g], [1, -1, 0.5]);
    assert.ok(r.clipped);
    assert.ok(Math.abs(r.clippedNorm - 1.5) < 1e-15);
  });
});

describe('optimizers, one step known answers', () => {
  const run = (kind: 'sgd' | 'adam' | 'rmsprop' | 'adagrad', momentum = 0, steps = 1) => {
    const w = Float64Array.from([1, -2]);
    const o = new Optimizer(2, { ...DEFAULT_OPTIMIZER, kind, momentum });
    for (let s = 0; s < steps; s++) o.step(w, Float64Array.from([0.5, -1]), 0.1);
    return [...w];
  };
  const close = (a: number[], b: number[]) => a.forEach((x, i) => assert.ok(Math.abs(x - b[i]) < 1e-12, `${a} vs ${b}`));
  it('SGD: w - lr g', () => close(run('sgd'), [0.95, -1.9]));
  it('SGD momentum 0.9, two steps: m = 0.9 m + g', () => close(run('sgd', 0.9, 2), [1 - 0.05 - 0.095, -2 + 0.1 + 0.19]));
  it('Adam: the first bias-corrected step moves each weight by lr', () => close(run('adam'), [1 - 0.1 * 0.5 / (0.5 + 1e-8), -2 + 0.1 * 1 / (1 + 1e-8)]));
  it('RMSProp: v = 0.01 g^2', () => close(run('rmsprop'), [1 - (0.1 * 0.5) / (Math.sqrt(0.01 * 0.25) + 1e-8), -2 + 0.1 / (Math.sqrt(0.01) + 1e-8)]));
  it('Adagrad: v = g^2', () => close(run('adagrad'), [1 - 0.1 * 0.5 / (0.5 + 1e-8), -2 + 0.1 / (1 + 1e-8)]));
  it('Adam, three steps: the same weights as the textbook form lr (m/c1) / (sqrt(v/c2) + eps)', () => {
    const grads = [[0.5, -1], [0.2, 0.3], [-0.4, 0.1]];
    const w = [1, -2];
    const m = [0, 0];
    const v = [0, 0];
    grads.forEach((g, s) => {
      const t = s + 1;
      for (let i = 0; i < 2; i++) {
        m[i] = 0.9 * m[i] + 0.1 * g[i];
        v[i] = 0.999 * v[i] + 0.001 * g[i] * g[i];
        w[i] -= (0.1 * (m[i] / (1 - 0.9 ** t))) / (Math.sqrt(v[i] / (1 - 0.999 ** t)) + 1e-8);
      }
    });
    const o = new Optimizer(2, { ...DEFAULT_OPTIMIZER, kind: 'adam', momentum: 0 });
    const ours = Float64Array.from([1, -2]);
    for (const g of grads) o.step(ours, Float64Array.from(g), 0.1);
    close([...ours], w);
  });
  it('each optimizer keeps the old weights in prev and reports whether the new ones are finite, in one pass', () => {
    for (const [kind, momentum] of [['sgd', 0], ['sgd', 0.5], ['adam', 0], ['rmsprop', 0], ['adagrad', 0]] as const) {
      const o = new Optimizer(3, { ...DEFAULT_OPTIMIZER, kind, momentum });
      const w = Float64Array.from([1, -2, 3]);
      const prev = new Float64Array(3);
      assert.equal(o.step(w, Float64Array.from([0.5, -1, 0.25]), 0.1, prev), true, kind);
      assert.deepEqual([...prev], [1, -2, 3], `${kind}: prev holds the weights before the step`);
      assert.notDeepEqual([...w], [1, -2, 3]);
      // A learning rate that overflows the update: the step says so, prev still has the last good weights.
      const before = [...w];
      assert.equal(o.step(w, Float64Array.from([1e300, 1, 1]), 1e308, prev), false, `${kind}: an infinite weight is reported`);
      assert.deepEqual([...prev], before);
      assert.ok(!Number.isFinite(w[0]));
    }
  });
});

const text = 'the quick brown fox jumps over the lazy dog. '.repeat(40);

function tinyConfig(over: Partial<RunConfig> = {}): RunConfig {
  return validateConfig({ cell: 'lstm', hidden: 16, seqLength: 10, batch: 4, steps: 30, lr: 0.01, diagEvery: 10, spectrumEvery: 10, ...over }).config;
}

describe('training', () => {
  it('the same config and seed give the same loss sequence, bit for bit', () => {
    const losses = () => {
      const t = new Trainer(tinyConfig({ dropout: 0.2, layers: 2 }), textDataset(text, 't', 0.1, 10));
      return Array.from({ length: 15 }, () => t.trainStep(true).loss);
    };
    assert.deepEqual(losses(), losses());
  });
  it('loss decreases on a repetitive text', () => {
    const t = new Trainer(tinyConfig(), textDataset(text, 't', 0.1, 10));
    const first = t.trainStep().loss;
    let last = first;
    for (let i = 0; i < 60; i++) last = t.trainStep().loss;
    assert.ok(last < first * 0.7, `${first} -> ${last}`);
  });
  it('with a tiny threshold every step clips and the post-clip norm equals it', () => {
    const t = new Trainer(tinyConfig({ clip: 1e-3 }), textDataset(text, 't', 0.1, 10));
    for (let i = 0; i < 10; i++) {
      const r = t.trainStep();
      assert.ok(r.clip.clipped);
      assert.ok(Math.abs(r.clip.clippedNorm - 1e-3) < 1e-12);
      assert.ok(r.clip.norm > 1e-3);
    }
    assert.equal(t.clipFraction, 1);
  });
  it('a huge learning rate ends in "diverged at step N" and keeps the last good parameters', () => {
    // The config validator caps lr at 100; the trainer itself must cope with anything.
    const t = new Trainer({ ...tinyConfig({ cell: 'rnn', rnnActivation: 'relu', optimizer: 'sgd', momentum: 0, clipMode: 'none', hiddenInit: 'gaussian', hiddenScale: 3 }), lr: 1e6 }, textDataset(text, 't', 0.1, 10));
    let error: unknown;
    for (let i = 0; i < 50 && !error; i++) {
      try {
        t.trainStep();
      } catch (e) {
        error = e;
      }
    }
    assert.ok(error instanceof EngineError && error.code === 'diverged', String(error));
    assert.match((error as Error).message, /diverged at step \d+/);
    assert.ok(t.net.params.data.every(Number.isFinite));
  });
  it('seeds claim: vanilla RNN with sigma_1 = 0.5 loses orders of magnitude of gradient over 30 steps; an LSTM keeps it within a few', () => {
    const flowOf = (over: Partial<RunConfig>) => {
      const t = new Trainer(tinyConfig({ seqLength: 31, batch: 2, hidden: 32, ...over }), textDataset(text, 't', 0.1, 10));
      const d = t.trainStep(true).diagnostics!;
      const h = d.flow[0].h;
      return Math.log10(h[0] / h[30]);
    };
    const vanilla = flowOf({ cell: 'rnn', hiddenInit: 'gaussian', hiddenScale: 0.5 });
    const lstm = flowOf({ cell: 'lstm', forgetBias: 1 });
    assert.ok(vanilla > 6, `vanilla dropped ${vanilla.toFixed(1)} orders`);
    assert.ok(lstm < vanilla / 2, `lstm dropped ${lstm.toFixed(1)} orders vs vanilla ${vanilla.toFixed(1)}`);
  });
  it('forecasting on a CSV column trains with MSE', () => {
    const csv = 'x,y\n' + Array.from({ length: 300 }, (_, i) => `${i},${Math.sin(i / 5)}`).join('\n');
    const t = new Trainer(tinyConfig({ task: 'forecast', columns: ['y'] }), seriesDataset(csv, 's.csv', ['y'], 0.1, 50));
    const first = t.trainStep().loss;
    let last = first;
    for (let i = 0; i < 80; i++) last = t.trainStep().loss;
    assert.ok(last < first * 0.5, `${first} -> ${last}`);
  });
});

describe('bad input: one clear typed error', () => {
  const code = (fn: () => unknown) => {
    try {
      fn();
    } catch (e) {
      assert.ok(e instanceof EngineError, String(e));
      return e.code;
    }
    assert.fail('no error');
  };
  const enc = (s: string) => new TextEncoder().encode(s);
  it('empty, binary, invalid UTF-8, UTF-16, over the cap', () => {
    assert.equal(code(() => decodeText(new Uint8Array(0), 'f', 100)), 'empty-file');
    assert.equal(code(() => decodeText(Uint8Array.from([65, 0, 66]), 'f', 100)), 'binary-file');
    assert.equal(code(() => decodeText(Uint8Array.from([65, 0xc3, 0x28]), 'f', 100)), 'invalid-utf8');
    assert.equal(code(() => decodeText(Uint8Array.from([0xff, 0xfe, 65, 0]), 'f', 100)), 'invalid-utf8');
    assert.equal(code(() => decodeText(enc('x'.repeat(101)), 'f', 100)), 'too-large');
    assert.equal(decodeText(enc('a\r\nb'), 'f', 100), 'a\nb');
    assert.equal(decodeText(enc('é✓'), 'f', 100), 'é✓');
  });
  it('text shorter than one chunk', () => assert.equal(code(() => textDataset('abc', 'f', 0, 10)), 'too-short'));
  it('CSV: missing cell and non-numeric cell name the row and column', () => {
    const e1 = (() => { try { seriesDataset('a,b\n1,2\n3,\n', 'f.csv', ['b'], 0, 1); } catch (e) { return e as EngineError; } })();
    assert.match(e1!.message, /row 3, column "b": the cell is missing/);
    const e2 = (() => { try { seriesDataset('a,b\n1,2\n3,x\n', 'f.csv', ['b'], 0, 1); } catch (e) { return e as EngineError; } })();
    assert.match(e2!.message, /row 3, column "b": "x" is not a finite number/);
    assert.equal(code(() => seriesDataset('a,b\n1,2\n', 'f.csv', ['nope'], 0, 1)), 'bad-csv');
  });
  it('configs: wrong types, zero sizes, NaN, unknown cells; unknown keys only warn', () => {
    assert.equal(code(() => validateConfig({ hidden: 0 })), 'bad-config');
    assert.equal(code(() => validateConfig({ seqLength: 0 })), 'bad-config');
    assert.equal(code(() => validateConfig({ lr: NaN })), 'bad-config');
    assert.equal(code(() => validateConfig({ cell: 'transformer' })), 'bad-config');
    assert.equal(code(() => validateConfig({ layers: '2' })), 'bad-config');
    assert.equal(code(() => validateConfig([])), 'bad-config');
    const { config, warnings } = validateConfig({ colour: 'blue' });
    assert.equal(config.hidden, DEFAULT_CONFIG.hidden);
    assert.deepEqual(warnings, ['config: unknown key "colour" ignored']);
  });
});

describe('safetensors', () => {
  it('round-trips names, shapes, values and metadata; header length is little-endian u64 and data 8-aligned', () => {
    const bytes = encodeSafetensors([{ name: 'weight_hh_l0', shape: [2, 3], data: Float64Array.from([1, 2, 3, 4, 5, -6.5]) }], { config: '{}' });
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    assert.equal((8 + n) % 8, 0);
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
    assert.deepEqual(header.weight_hh_l0, { dtype: 'F64', shape: [2, 3], data_offsets: [0, 48] });
    const d = decodeSafetensors(bytes);
    assert.deepEqual([...d.tensors.get('weight_hh_l0')!.data], [1, 2, 3, 4, 5, -6.5]);
    assert.equal(d.metadata.config, '{}');
  });
  it('refuses truncated files and headers past the end', () => {
    const bytes = encodeSafetensors([{ name: 'a', shape: [4], data: new Float64Array(4) }], {});
    assert.throws(() => decodeSafetensors(bytes.subarray(0, bytes.length - 1)), /overruns|bytes after/);
    assert.throws(() => decodeSafetensors(bytes.subarray(0, 5)), /shorter than the 8-byte/);
    const bad = Uint8Array.from(bytes);
    new DataView(bad.buffer).setBigUint64(0, 1n << 40n, true);
    assert.throws(() => decodeSafetensors(bad), /runs past the end/);
  });
});

describe('gradient flow through time, known answer', () => {
  it('for a linear RNN, ||dL_T/dh_{T-k}|| equals ||(W_hh^T)^k g|| exactly', () => {
    // A relu RNN whose weights, biases, inputs and initial state are all positive never leaves the
    // linear region, so backprop through one step is exactly a multiply by W_hh^T.
    const H = 5, T = 12, B = 1, I = 2;
    const net = new Network({ cell: 'rnn', gruVariant: 'reset_after', rnnActivation: 'relu', layers: 1, hidden: H, input: { kind: 'dense', size: I }, head: { kind: 'none' }, dropout: 0 });
    const rng = new Rng(3);
    for (let i = 0; i < net.params.size; i++) net.params.data[i] = 0.05 + 0.2 * rng.uniform();
    const s = net.newState(B);
    s.h[0].fill(0.1);
    net.forward(Float64Array.from({ length: T * I }, () => rng.uniform()), T, B, s);
    const g = Float64Array.from({ length: H }, () => rng.normal());
    const dTop = new Float64Array(T * H);
    dTop.set(g, (T - 1) * H); // the loss at the last step only
    net.setTopGradient(dTop);
    const rec = { h: [new Float64Array(T)], c: [new Float64Array(0)] };
    net.backward({ paramGrads: false, flow: rec });
    const W = net.params.view('weight_hh_l0');
    let v = Float64Array.from(g);
    for (let k = 0; k < T; k++) {
      const norm = Math.sqrt(v.reduce((a, x) => a + x * x, 0));
      const measured = rec.h[0][T - 1 - k];
      assert.ok(Math.abs(measured - norm) <= 1e-12 * norm, `k=${k}: ${measured} vs ${norm}`);
      const next = new Float64Array(H); // (W^T v)[j] = sum_i W[i][j] v[i]
      for (let i = 0; i < H; i++) for (let j = 0; j < H; j++) next[j] += W[i * H + j] * v[i];
      v = next;
    }
  });
});

describe('gradient flow in a training step', () => {
  // Batch 3 runs gemmNT's register tiles; batch 1 the matrix-vector paths.
  for (const [T, B] of [[7, 3], [9, 1]]) {
    for (const cell of ['lstm', 'gru', 'rnn'] as const) {
      it(`${cell}, ${T} steps, batch ${B}: the trainer's flow (reusing the step's forward) equals a clean forward and backward from the chunk's start`, () => {
        // The trainer measures the flow from the training forward's caches; this recomputes it with
        // a separate network from the same initial state and weights, the way a reader would.
        const H = 12;
        const t = new Trainer(tinyConfig({ cell, layers: 2, hidden: H, seqLength: T, batch: B }), textDataset(text, 't', 0.1, T * B));
        t.trainStep();
        t.trainStep();
        const state = { batch: B, h: t.state.h.map((h) => h.slice()), c: t.state.c.map((c) => c.slice()) };
        const weights = t.net.params.data.slice();
        const d = t.trainStep(true).diagnostics!;
        const net = new Network(t.net.spec);
        net.params.data.set(weights);
        const input = (t as unknown as { input: Int32Array }).input;
        const target = (t as unknown as { target: Int32Array }).target;
        net.forward(input, T, B, state);
        // dL_T/dh_T by hand from the full head's probabilities: (p - onehot) / B, times W_head.
        net.head(target, { backward: false });
        const p = net.headOutputs();
        const V = net.outputSize;
        const W = net.params.view('head.weight');
        const dTop = new Float64Array(T * B * H);
        for (let r = (T - 1) * B; r < T * B; r++) {
          for (let k = 0; k < V; k++) {
            const dz = (p[r * V + k] - (k === target[r] ? 1 : 0)) / B;
            for (let j = 0; j < H; j++) dTop[r * H + j] += dz * W[k * H + j];
          }
        }
        net.setTopGradient(dTop);
        const lstm = cell === 'lstm';
        const rec = { h: [new Float64Array(T), new Float64Array(T)], c: [new Float64Array(lstm ? T : 0), new Float64Array(lstm ? T : 0)] };
        net.backward({ paramGrads: false, flow: rec });
        assert.equal(d.flow.length, 2);
        for (let l = 0; l < 2; l++) {
          const want = Array.from(rec.h[l]).reverse();
          assert.equal(d.flow[l].h.length, T);
          d.flow[l].h.forEach((x, k) => assert.ok(want[k] > 0 && Math.abs(x - want[k]) <= 1e-12 * want[k], `layer ${l} k=${k}: ${x} vs ${want[k]}`));
          if (lstm) {
            const wantC = Array.from(rec.c[l]).reverse();
            assert.equal(d.flow[l].c!.length, T);
            d.flow[l].c!.forEach((x, k) => assert.ok(wantC[k] > 0 && Math.abs(x - wantC[k]) <= 1e-12 * wantC[k], `layer ${l} c k=${k}`));
          }
        }
      });
    }
  }
  it('with dropout, the flow goes through the training step\'s own masks: it differs from the flow without them', () => {
    const flowOf = (dropout: number) => {
      const t = new Trainer(tinyConfig({ layers: 2, hidden: 12, seqLength: 7, batch: 3, dropout }), textDataset(text, 't', 0.1, 21));
      return t.trainStep(true).diagnostics!.flow[0].h;
    };
    const plain = flowOf(0);
    const masked = flowOf(0.5);
    assert.ok(masked.every((x) => Number.isFinite(x) && x > 0));
    // Layer 0's flow runs through layer 1 via the masked connection, so the masks change it.
    assert.ok(masked.some((x, k) => Math.abs(x - plain[k]) > 1e-6 * plain[k]), 'the masks should change the flow into layer 0');
  });
  it('head with lastStepOnly: the mean cross-entropy of the last step, from h_T and the head weights directly', () => {
    const t = new Trainer(tinyConfig({ hidden: 10, seqLength: 5, batch: 4 }), textDataset(text, 't', 0.1, 20));
    t.trainStep();
    const net = t.net;
    const target = (t as unknown as { target: Int32Array }).target;
    const top = net.topOutputs(); // (T,B,H): h_1..h_T
    const W = net.params.view('head.weight');
    const bias = net.params.view('head.bias');
    const V = net.outputSize;
    const H = 10;
    let want = 0;
    for (let b = 0; b < 4; b++) {
      const r = 4 * 4 + b; // time step T-1 (0-based), stream b
      const z = Array.from({ length: V }, (_, k) => bias[k] + top.subarray(r * H, r * H + H).reduce((a, h, j) => a + h * W[k * H + j], 0));
      const max = Math.max(...z);
      const lse = max + Math.log(z.reduce((a, x) => a + Math.exp(x - max), 0));
      want += lse - z[target[r]];
    }
    const got = net.head(target, { backward: false, lastStepOnly: true });
    assert.ok(Math.abs(got - want / 4) < 1e-12, `${got} vs ${want / 4}`);
  });
});

describe('runSession: the records a run emits', () => {
  it('metrics every step (sigma_1 per W_hh block, per-tensor gradient norms, post-clip norm <= t), diagnostics every N, a checkpoint, one done', async () => {
    const { runSession } = await import('../../src/engine/session');
    const posts: import('../../src/protocol/trainingWorker').FromWorker[] = [];
    const config = tinyConfig({ cell: 'gru', layers: 2, steps: 20, clip: 0.05, diagEvery: 5, spectrumEvery: 10 });
    const summary = await runSession({ runId: 'r', config, dataText: text }, (m) => posts.push(m), () => false);
    assert.equal(summary.status, 'finished');
    const metrics = posts.flatMap((m) => (m.type === 'metrics' ? [m.record] : []));
    assert.deepEqual(metrics.map((m) => m.step), Array.from({ length: 20 }, (_, i) => i + 1));
    for (const m of metrics) {
      assert.deepEqual(Object.keys(m.sigma1).sort(), ['0.all', '0.n', '0.r', '0.z', '1.all', '1.n', '1.r', '1.z']);
      assert.ok(m.gradNormClipped <= 0.05 + 1e-12, `post-clip norm ${m.gradNormClipped}`);
      assert.ok(Object.keys(m.paramGradNorms).includes('weight_hh_l1'));
    }
    const diags = posts.flatMap((m) => (m.type === 'diagnostics' ? [m.record] : []));
    assert.deepEqual(diags.map((d) => d.step), [1, 5, 10, 15, 20]);
    assert.ok(diags[2].spectrum.every((s) => s.singularValues && s.singularValues.length === 16));
    assert.equal(diags[2].flow[1].h.length, config.seqLength);
    assert.equal(posts.filter((m) => m.type === 'done').length, 1);
    assert.ok(posts.some((m) => m.type === 'checkpoint'));
  });
});

describe('validation saturation on demand', () => {
  it('counts the eval network activations on held-out text without touching training state', () => {
    const t = new Trainer(tinyConfig({ valFraction: 0.2 }), textDataset(text, 't', 0.2, 10));
    t.trainStep();
    const before = Float64Array.from(t.net.params.data);
    const sat = t.validationSaturation()!;
    assert.deepEqual(sat.map((s) => s.gate), ['i', 'f', 'g', 'o']);
    for (const s of sat) {
      assert.equal(s.unitLeft.length, 16);
      assert.ok(s.left >= 0 && s.left + s.right <= 1);
    }
    assert.deepEqual(t.net.params.data, before);
    // A forget bias of +20 saturates f to the right everywhere, on any data.
    const t2 = new Trainer(tinyConfig({ valFraction: 0.2, forgetBias: 20 }), textDataset(text, 't', 0.2, 10));
    const f = t2.validationSaturation()!.find((s) => s.gate === 'f')!;
    assert.equal(f.right, 1);
  });
});
