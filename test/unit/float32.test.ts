import * as assert from 'node:assert/strict';
import { validateConfig } from '../../src/engine/config';
import { textDataset } from '../../src/engine/data';
import { gemmNN, gemmNT, gemmTN, sigmoidInto, tanhInto, expInto, transposeInto, vecMat, type Vec } from '../../src/engine/linalg';
import { Network } from '../../src/engine/network';
import { checkpointFromState, restoreTrainer } from '../../src/engine/resume';
import { decodeSafetensors } from '../../src/engine/safetensors';
import { generationOf, runSession } from '../../src/engine/session';
import { Trainer } from '../../src/engine/trainer';
import { allocF32, f32, kernelArena, simdAvailable } from '../../src/engine/wasm/kernels';
import { dotAttentionBackward, dotAttentionForward } from '../../src/engine/ops/attention';
import { newCellCache, onehotInputBackward, onehotInputForward, recurrentProduct, type CellParams } from '../../src/engine/ops/cell';
import { gruBackward, gruForward } from '../../src/engine/ops/gru';
import type { RunConfig } from '../../src/protocol/config';
import type { FromWorker } from '../../src/protocol/trainingWorker';

const text = 'It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of a wife. '.repeat(30);

function config(over: Partial<RunConfig> = {}): RunConfig {
  return validateConfig({ cell: 'lstm', hidden: 24, seqLength: 12, batch: 5, steps: 12, lr: 0.01, diagEvery: 4, spectrumEvery: 4, ...over }).config;
}

function trainer(c: RunConfig): Trainer {
  return new Trainer(c, textDataset(text, 't', 0.1, c.batch * (c.seqLength + 1)));
}

/** A Float32Array in the kernels' arena holding `values`. */
function arena(values: ArrayLike<number>): Float32Array {
  const a = allocF32(values.length);
  a.set(values);
  return a;
}

const rand = (n: number, seed: number) => Float64Array.from({ length: n }, (_, i) => Math.sin(seed * 1000 + i * 1.37) * 0.9);

function maxRel(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0, s = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    s = Math.max(s, Math.abs(b[i]));
  }
  return d / s;
}

describe('float32 WebAssembly SIMD kernels', () => {
  it('SIMD is detected and the arena is reserved in this Node', () => {
    assert.equal(simdAvailable(), true);
    assert.ok(kernelArena());
    assert.equal(allocF32(8).buffer, kernelArena()!.buffer);
  });

  // Sizes off the 4-wide and 2x4 tiles too: every tail path runs; 1025 rows: several of gemmNT's row blocks.
  for (const [M, N, K] of [[1, 7, 5], [2, 4, 4], [3, 9, 13], [33, 75, 128], [5, 512, 130], [1025, 257, 6]]) {
    it(`gemmNT, gemmNN, gemmTN, vecMat at ${M}x${N}x${K} agree with the float64 kernels to float32 rounding (beta 0 and 1)`, () => {
      const A = rand(M * K, 1), Bt = rand(N * K, 2), Bn = rand(K * N, 3), At = rand(K * M, 4), C0 = rand(M * N, 5);
      for (const beta of [0, 1] as const) {
        const check = (name: string, run: (a: Vec, b: Vec, c: Vec) => void, a: Float64Array, b: Float64Array) => {
          const ref = C0.slice();
          run(a, b, ref);
          const c = arena(C0);
          run(arena(a), arena(b), c);
          const e = maxRel(c, ref);
          assert.ok(e < 1e-5, `${name} beta ${beta}: ${e}`);
          assert.ok(e > 0, `${name} beta ${beta}: float64-exact, so the float32 kernel did not run`);
        };
        check('NT', (a, b, c) => gemmNT(M, N, K, a, 0, K, b, 0, K, c, 0, N, beta), A, Bt);
        check('NN', (a, b, c) => gemmNN(M, N, K, a, 0, K, b, 0, N, c, 0, N, beta), A, Bn);
        check('TN', (a, b, c) => gemmTN(M, N, K, a, 0, M, b, 0, N, c, 0, N, beta), At, Bn);
        check('vecMat', (a, b, c) => vecMat(N, K, a, 0, b, 0, N, c, 0, beta), A, Bn);
      }
    });
  }

  it("transpose: the kernel's 4 x 4 shuffles and scalar edges copy every value to its place, from an offset and a wider leading dimension", () => {
    for (const [R, C, ld, off] of [[37, 21, 23, 5], [4, 4, 4, 0], [16, 33, 40, 1], [3, 2, 2, 0]]) {
      const src = arena(rand(off + R * ld, 41));
      const got = allocF32(R * C);
      assert.equal(f32.transpose(R, C, src, off, ld, got), true, 'the kernel ran');
      const want = new Float32Array(R * C);
      for (let i = 0; i < R; i++) for (let j = 0; j < C; j++) want[j * R + i] = src[off + i * ld + j];
      assert.deepEqual(got, want, `${R}x${C}`);
      transposeInto(R, C, src, off, ld, got.fill(0));
      assert.deepEqual(got, want);
    }
  });

  it('gemmTN with leading dimensions wider than the rows (gate blocks of dG, rows of a cache), over two blocks of k', () => {
    const [M, N, K, lda, ldb, ldc] = [20, 19, 300, 27, 24, 21];
    const A = rand(K * lda, 6), B = rand(K * ldb, 7), C0 = rand(M * ldc, 8);
    for (const beta of [0, 1] as const) {
      const ref = C0.slice();
      gemmTN(M, N, K, A, 3, lda, B, 2, ldb, ref, 1, ldc, beta);
      const c = arena(C0);
      gemmTN(M, N, K, arena(A), 3, lda, arena(B), 2, ldb, c, 1, ldc, beta);
      const e = maxRel(c, ref);
      assert.ok(e < 1e-5 && e > 0, `beta ${beta}: ${e}`);
      // the entries outside the M x N block at offset 1 are untouched
      assert.equal(c[0], Math.fround(C0[0]));
      assert.equal(c[1 + N], Math.fround(C0[1 + N]));
    }
  });

  it('attention rows (rowDots, rowCombine, rowOuterAdd) run in the kernels and agree with dot attention in float64, padding untouched', () => {
    const [B, S, H] = [5, 7, 13];
    const lengths = [7, 1, 4, 6, 3];
    const q = rand(B * H, 11), enc = rand(B * S * H, 12), dctx = rand(B * H, 13);
    for (let b = 0; b < B; b++) for (let s = lengths[b]; s < S; s++) enc.fill(0, (b * S + s) * H, (b * S + s + 1) * H);
    const run = (q_: Vec, enc_: Vec, dctx_: Vec, make: (n: number) => Vec) => {
      const a = make(B * S), ctx = make(B * H), dq = make(B * H), dEnc = make(B * S * H), da = make(B * S);
      dotAttentionForward(B, S, H, lengths, q_, 0, H, enc_, a, 0, ctx, 0, H);
      dotAttentionBackward(B, S, H, lengths, dctx_, 0, H, q_, 0, H, enc_, a, 0, dq, 0, H, dEnc, da);
      return { a, ctx, dq, dEnc };
    };
    const ref = run(q, enc, dctx, (n) => new Float64Array(n));
    const got = run(arena(q), arena(enc), arena(dctx), (n) => allocF32(n));
    for (const k of ['a', 'ctx', 'dq', 'dEnc'] as const) {
      const e = maxRel(got[k], ref[k]);
      assert.ok(e < 1e-5 && e > 0, `${k}: ${e}`);
    }
    for (let b = 0; b < B; b++) for (let s = lengths[b]; s < S; s++) assert.equal(got.a[b * S + s], 0);
    assert.equal(f32.rowDots(B, S, H, lengths, arena(q), 0, H, arena(enc), 0, allocF32(B * S), 0), true, 'the kernel ran');
  });

  // The kernels against the same ops' JavaScript loops on plain Float32Arrays (outside the arena),
  // H = 7 and 9 rows so the 4-wide tails run too.
  for (const resetAfter of [true, false]) {
    it(`the GRU's gate passes (reset ${resetAfter ? 'after: f32x4 kernels' : 'before: mulAddRows'}) agree with the JavaScript loops, forward and backward`, () => {
      const [T, B, H] = [4, 3, 7];
      const GH = 3 * H;
      const p: CellParams = { wih: 0, whh: 0, bih: GH * H, bhh: GH * H + GH };
      const W0 = rand(GH * H + 2 * GH, 21), dOut0 = rand(T * B * H, 22), x0 = rand(T * B * GH, 23), h00 = rand(B * H, 24);
      const run = (make: (v: ArrayLike<number>) => Float32Array) => {
        const W = make(W0), dOut = make(dOut0);
        const c = newCellCache({ cell: 'gru', gruVariant: resetAfter ? 'reset_after' : 'reset_before', rnnActivation: 'tanh', hidden: H }, T, B, (n) => make(new Float64Array(n)));
        c.gates.set(make(x0));
        c.hs.set(make(h00));
        gruForward(W, p, c, 0, T, B, H, resetAfter, make(new Float64Array(B * GH)));
        const dG = make(new Float64Array(T * B * GH)), dAux = make(new Float64Array(T * B * H));
        const carry = { dh: make(new Float64Array(B * H)), dhPrev: make(new Float64Array(B * H)), dc: make(new Float64Array(0)), drh: make(new Float64Array(B * H)) };
        gruBackward(c, dOut, dG, dAux, carry, 0, T, B, H, resetAfter, recurrentProduct(W, p.whh, B, GH, H, make(new Float64Array(GH * H))));
        return { gates: c.gates, hs: c.hs, aux: c.aux, dG, dAux, dh: carry.dh };
      };
      const js = run((v) => Float32Array.from(v));
      const wasm = run(arena);
      // dAux is reset after's only (reset before carries d(r h) in drh).
      for (const k of ['gates', 'hs', 'aux', 'dG', 'dh', ...(resetAfter ? (['dAux'] as const) : [])] as const) {
        assert.notEqual(js[k].buffer, kernelArena()!.buffer);
        const e = maxRel(wasm[k], js[k]);
        assert.ok(e < 2e-6, `${k}: ${e}`);
      }
    });
  }

  it('the one-hot input gather and scatter-add run in the kernels, agree with the JavaScript loops, and leave ids outside the vocabulary to them', () => {
    const [N, GH, V] = [11, 13, 6];
    const p: CellParams = { wih: 5, whh: 0, bih: 0, bhh: 0 };
    const W0 = rand(5 + GH * V, 31), bias0 = rand(GH, 32), dG0 = rand(N * GH, 33);
    const run = (tokens: Int32Array, make: (v: ArrayLike<number>) => Float32Array) => {
      const gates = make(new Float64Array(N * GH)), gr = make(rand(5 + GH * V, 34));
      onehotInputForward(N, GH, V, tokens, make(W0), p, make(bias0), gates);
      onehotInputBackward(N, GH, V, tokens, make(dG0), gr, p);
      return { gates, gr };
    };
    const tokens = Int32Array.from({ length: N }, (_, i) => (i * 5) % V);
    const js = run(tokens, (v) => Float32Array.from(v));
    const wasm = run(tokens, arena);
    assert.deepEqual(wasm.gates, js.gates, 'a lookup plus a bias: the same bits');
    assert.ok(maxRel(wasm.gr, js.gr) < 2e-6);
    assert.ok(f32.gatherRowsAdd(N, GH, tokens, arena(new Float64Array(V * GH)), arena(bias0), 0, allocF32(N * GH), 0), 'the kernel ran');
    // An id past the vocabulary: the loops' result (undefined reads: NaN), never a read or write outside the table.
    const bad = tokens.slice();
    bad[3] = V + 1000;
    const guard = arena(new Float64Array(4096));
    const got = run(bad, arena);
    assert.ok(Number.isNaN(got.gates[3 * GH]) && Number.isFinite(got.gates[2 * GH]));
    assert.ok(guard.every((x) => x === 0));
  });

  it('sigmoid, tanh and exp within 5e-7 relative (4 float32 ulp) of the float64 ones over [-30, 30], NaN stays NaN, the tails saturate', () => {
    // float32 inputs, so the float64 reference sees the same arguments
    const xs = Float64Array.from({ length: 6003 }, (_, i) => Math.fround(-30 + i * 0.01));
    for (const [name, f] of [['sigmoid', sigmoidInto], ['tanh', tanhInto]] as const) {
      const ref = new Float64Array(xs.length);
      f(xs, 0, ref, 0, xs.length);
      const out = arena(xs);
      f(out, 0, out, 0, xs.length);
      let worst = 0;
      for (let i = 0; i < xs.length; i++) worst = Math.max(worst, Math.abs(out[i] - ref[i]) / Math.max(Math.abs(ref[i]), 1e-30));
      assert.ok(worst < 5e-7, `${name}: ${worst}`);
      const special = arena([NaN, 100, -100, 0]);
      f(special, 0, special, 0, 4);
      assert.ok(Number.isNaN(special[0]), `${name}(NaN)`);
      assert.equal(special[1], 1);
      // sigmoid(-100) = 4e-44; exp's input is clamped at 88.4, so it comes out below 1e-38 instead
      if (name === 'tanh') assert.equal(special[2], -1);
      else assert.ok(special[2] >= 0 && special[2] < 1e-38, String(special[2]));
      assert.equal(special[3], name === 'tanh' ? 0 : 0.5);
    }
    const out = arena(xs);
    expInto(out, 0, out, 0, xs.length, 5);
    // x - shift is rounded to float32 first (as the kernel does): exp of that rounded argument
    for (let i = 0; i < xs.length; i++) {
      const e = Math.exp(Math.fround(xs[i] - 5));
      assert.ok(Math.abs(out[i] - e) <= 5e-7 * e, `exp(${xs[i] - 5}): ${out[i]} vs ${e}`);
    }
  });
});

describe('float32 precision (the default)', () => {
  it('a run config defaults to float32 and trains on the WebAssembly SIMD path: Float32Array parameters, gradients and moments in the arena', () => {
    const t = trainer(config());
    assert.equal(t.config.precision, 'float32');
    assert.equal(t.path, 'wasm-simd-f32');
    assert.ok(t.net.params.data instanceof Float32Array && t.net.params.data.buffer === kernelArena()!.buffer);
    assert.ok(t.net.params.grad instanceof Float32Array);
    assert.ok(t.optimizer.m instanceof Float32Array && t.optimizer.v instanceof Float32Array);
    const r = t.trainStep(true);
    assert.ok(Number.isFinite(r.loss) && r.loss > 0);
    assert.equal(trainer(config({ precision: 'float64' })).path, 'js-f64');
  });

  it('learns: 60 steps lower the training loss, and float32 tracks float64 over the first steps', () => {
    const c = config({ steps: 60, diagEvery: 0 });
    const f32 = trainer(c), f64 = trainer({ ...c, precision: 'float64' });
    const first: number[][] = [[], []];
    for (let i = 0; i < 5; i++) {
      first[0].push(f32.trainStep().loss);
      first[1].push(f64.trainStep().loss);
    }
    for (let i = 0; i < 5; i++) assert.ok(Math.abs(first[0][i] - first[1][i]) < 1e-4 * first[1][i], `step ${i + 1}: ${first[0][i]} vs ${first[1][i]}`);
    let last = 0;
    for (let i = 5; i < 60; i++) last = f32.trainStep().loss;
    assert.ok(last < first[0][0] - 0.5, `loss ${first[0][0]} -> ${last}`);
  });

  for (const cell of ['lstm', 'gru', 'rnn'] as const) {
    it(`${cell}: the same config gives the same bits twice (determinism), with dropout and 2 layers`, () => {
      const c = config({ cell, layers: 2, dropout: 0.2 });
      const a = trainer(c), b = trainer(c);
      for (let i = 0; i < 6; i++) assert.equal(a.trainStep(i % 3 === 0).loss, b.trainStep(i % 3 === 0).loss);
      assert.deepEqual(a.net.params.data, b.net.params.data);
    });
  }

  it('exact resume: a generation (format /2) holds weights, moments and state as F32 and continues with the same bits as an uninterrupted run', () => {
    const c = config({ cell: 'gru', layers: 2, dropout: 0.1 });
    const straight = trainer(c);
    const first = trainer(c);
    for (let i = 0; i < 4; i++) {
      straight.trainStep();
      first.trainStep();
    }
    const gen = generationOf(first, 'fp');
    const { tensors } = decodeSafetensors(gen.model, 'ckpt');
    for (const t of tensors.values()) assert.equal(t.dtype, 'F32');
    const decoded = decodeSafetensors(gen.state, 'resume');
    const names = [...decoded.tensors.keys()];
    for (const prefix of ['model.', 'optimizer.m.', 'optimizer.v.', 'state.h.']) assert.ok(names.some((n) => n.startsWith(prefix)), `${prefix}* in ${names.join(', ')}`);
    for (const [name, t] of decoded.tensors) assert.equal(t.dtype, 'F32', name);
    // The checkpoint derived from the resume file alone is the run's own, byte for byte.
    assert.deepEqual(checkpointFromState(decoded, 'resume'), gen.model);
    const resumed = trainer(c);
    restoreTrainer(resumed, undefined, gen.state, 'fp', 'run');
    for (let i = 0; i < 4; i++) assert.equal(resumed.trainStep().loss, straight.trainStep().loss);
    assert.deepEqual(resumed.net.params.data, straight.net.params.data);
    assert.deepEqual(resumed.optimizer.m, straight.optimizer.m);
    assert.deepEqual(resumed.optimizer.v, straight.optimizer.v);
  });

  it('the flow diagnostic reusing the step forward equals a clean float32 forward and backward', () => {
    const c = config({ layers: 2, seqLength: 7, batch: 3 });
    const t = trainer(c);
    t.trainStep();
    const state = { batch: 3, h: t.state.h.map((h) => h.slice()), c: t.state.c.map((x) => x.slice()) };
    const weights = t.net.params.data.slice();
    const d = t.trainStep(true).diagnostics!;
    const net = new Network(t.net.spec, 'float32');
    net.params.data.set(weights);
    const input = (t as unknown as { input: Int32Array }).input;
    const target = (t as unknown as { target: Int32Array }).target;
    net.forward(input, 7, 3, state);
    net.head(target, { backward: true, paramGrads: false, lastStepOnly: true });
    const rec = { h: [new Float64Array(7), new Float64Array(7)], c: [new Float64Array(7), new Float64Array(7)] };
    net.backward({ paramGrads: false, flow: rec });
    for (let l = 0; l < 2; l++) assert.deepEqual(d.flow[l].h, Array.from(rec.h[l]).reverse());
  });

  it('a session reports the path it trained on, in started and in the summary', async () => {
    const posts: FromWorker[] = [];
    const summary = await runSession({ runId: 'r', config: config({ steps: 3 }), dataText: text }, (m) => posts.push(m), () => false);
    assert.equal(summary.path, 'wasm-simd-f32');
    const started = posts.find((m) => m.type === 'started');
    assert.equal(started?.type === 'started' && started.path, 'wasm-simd-f32');
    const s64 = await runSession({ runId: 'r', config: config({ steps: 2, precision: 'float64' }), dataText: text }, () => {}, () => false);
    assert.equal(s64.path, 'js-f64');
  });

  it('precision must be float32 or float64', () => {
    assert.throws(() => validateConfig({ precision: 'float16' }), /"precision" must be one of float32, float64/);
  });
});
