import * as assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { EngineError } from '../../src/engine/errors';
import { ATTENTION_KINDS, Seq2Seq, type AttentionKind, type Seq2SeqSpec } from '../../src/engine/models/seq2seq';
import { Seq2SeqStepDecoder } from '../../src/engine/models/seq2seqDecoder';
import { checkOracleFile } from '../../src/engine/oracle';
import { checkSeq2SeqFixture, loadSeq2SeqFixture } from '../../src/engine/oracleSeq2seq';
import { Rng } from '../../src/engine/random';
import { makeBatch, type Seq2SeqBatch } from '../../src/engine/seq2seq/batch';
import type { RunConfig } from '../../src/protocol/config';
import type { FromWorker } from '../../src/protocol/trainingWorker';
import { DEFAULT_CONFIG, validateConfig } from '../../src/engine/config';
import { runSession, type SessionStart } from '../../src/engine/session';
import { Seq2SeqTrainer, seq2seqData } from '../../src/engine/seq2seqTrainer';
import { loadSeq2SeqCheckpoint } from '../../src/engine/seq2seqCheckpoint';
import { decodeSafetensors } from '../../src/engine/safetensors';
import { checkpointFromState, resumeStateInfo } from '../../src/engine/resume';
import { greedyDecode } from '../../src/engine/seq2seq/decoding';
import { kernelArena } from '../../src/engine/wasm/kernels';

const dir = join(__dirname, '../../test/fixtures/oracle-s2s');
const fixtureFiles = readdirSync(dir).filter((f) => f.endsWith('.json'));
const readFixture = (f: string) => JSON.parse(readFileSync(join(dir, f), 'utf8'));

describe('seq2seq oracle fixtures (PyTorch float64, oracle-s2s format)', () => {
  it('has the 8 shared fixtures and 4 of other shapes (3 layers, B = 1, length-1 sources and targets)', () => {
    assert.equal(fixtureFiles.length, 12);
    for (const f of ['s2s_gru_additive_3layer.json', 's2s_lstm_general_b1_len1.json', 's2s_rnn_dot_3layer_b1.json', 's2s_lstm_none_3layer_len1.json']) assert.ok(fixtureFiles.includes(f), f);
  });
  for (const file of fixtureFiles) {
    it(`${file}: loss, logits, attention, encoder outputs and every gradient within 1e-9`, () => {
      const fx = readFixture(file);
      const result = checkOracleFile(fx);
      const worst = result.quantities.reduce((a, b) => (b.error > a.error ? b : a));
      // every parameter's gradient is compared, plus loss, logits, encoder and decoder outputs, final state
      assert.ok(result.quantities.length >= Object.keys(fx.weights).length + 5, `compared ${result.quantities.length} quantities`);
      if (fx.config.attention !== 'none') assert.ok(result.quantities.some((q) => q.name === 'attention'));
      assert.ok(result.maxError < 1e-9, `${worst.name}: ${worst.error}`);
    });
    it(`${file}: within 2e-5 relative in float32 on the WebAssembly SIMD kernels, and not float64-exact`, () => {
      assert.ok(kernelArena(), 'WebAssembly SIMD is available in this Node');
      const fx = readFixture(file);
      const result = checkOracleFile(fx, 'float32');
      const worst = result.quantities.reduce((a, b) => (b.error > a.error ? b : a));
      assert.ok(result.quantities.length >= Object.keys(fx.weights).length + 5, `compared ${result.quantities.length} quantities`);
      assert.ok(result.maxError < 2e-5, `${worst.name}: ${worst.error}`);
      // float32 rounding shows: the model did not silently run in float64
      assert.ok(result.maxError > 1e-9, `max error ${result.maxError} is float64-exact`);
    });
  }

  it('a wrong weight is caught: one head bias entry off by 1e-6 fails the loss and logits', () => {
    const fx = readFixture('s2s_lstm_dot_1layer.json');
    fx.weights['head.bias'].data[3] += 1e-6;
    const r = checkSeq2SeqFixture(fx);
    assert.ok(r.quantities.find((q) => q.name === 'logits')!.error > 1e-8);
    assert.ok(r.maxError > 1e-9);
  });

  it('extra all-pad columns and other ids at pad positions change neither the loss nor any gradient', () => {
    const run = (fx: unknown) => {
      const { model, batch } = loadSeq2SeqFixture(fx);
      model.params.zeroGrad();
      const loss = model.forward(batch);
      model.backward();
      return { loss, grad: model.params.grad.slice() };
    };
    const fx = readFixture('s2s_gru_general_1layer.json');
    const base = run(fx);
    fx.inputs.src = fx.inputs.src.map((row: number[], b: number) => [...row.map((v, s) => (s >= fx.inputs.src_lengths[b] ? 5 : v)), 4, 3]);
    fx.inputs.tgt_in = fx.inputs.tgt_in.map((row: number[], b: number) => [...row.map((v, t) => (t >= fx.inputs.tgt_lengths[b] ? 6 : v)), 6]);
    fx.inputs.tgt_out = fx.inputs.tgt_out.map((row: number[]) => [...row, 5]);
    const padded = run(fx);
    assert.equal(padded.loss, base.loss);
    assert.equal(Math.abs(padded.loss - fx.float64.loss) < 1e-14, true);
    let worst = 0;
    for (let i = 0; i < base.grad.length; i++) worst = Math.max(worst, Math.abs(padded.grad[i] - base.grad[i]));
    assert.ok(worst < 1e-17, `gradients moved by ${worst}`);
  });

  const malformed: [string, (fx: any) => void, RegExp][] = [
    ['a wrong format', (fx) => (fx.format = 'rnn-lab-seq2seq-oracle/9'), /format is "rnn-lab-seq2seq-oracle\/9"/],
    ['no config', (fx) => delete fx.config, /config is missing/],
    ['an unknown cell', (fx) => (fx.config.cell = 'transformer'), /config\.cell/],
    ['an unknown attention', (fx) => (fx.config.attention = 'multihead'), /config\.attention/],
    ['a missing weight', (fx) => delete fx.weights['encoder.weight_hh_l0'], /weights\["encoder\.weight_hh_l0"\] is missing/],
    ['a weight of the wrong shape', (fx) => (fx.weights['head.weight'].shape = [3, 3]), /weights\["head\.weight"\]\.shape/],
    ['a weight with too few values', (fx) => fx.weights['head.bias'].data.pop(), /head\.bias.*values, expected/],
    ['a source length past the array', (fx) => (fx.inputs.src_lengths[0] = 99), /src_lengths\[0\]/],
    ['a target id outside the vocabulary', (fx) => (fx.inputs.tgt_out[0][0] = 1000), /tgt_out\[0\]\[0\]/],
    ['ragged source rows', (fx) => fx.inputs.src[1].pop(), /inputs\.src\[1\]/],
    ['no float64 block', (fx) => delete fx.float64, /float64 is missing/],
    ['a missing gradient', (fx) => delete fx.float64.grads['head.bias'], /grads\["head\.bias"\]/],
    ['a batch size that does not match the rows', (fx) => (fx.config.batch = 7), /inputs\.src must be 7 rows/],
  ];
  for (const [what, mutate, message] of malformed) {
    it(`a fixture with ${what} is one clear bad-oracle error`, () => {
      const fx = readFixture('s2s_rnn_additive_2layer.json');
      mutate(fx);
      assert.throws(() => checkOracleFile(fx), (e: unknown) => e instanceof EngineError && e.code === 'bad-oracle' && message.test(e.message) && e.hint.length > 0);
    });
  }
  it('null and a non-object are bad-oracle errors, not crashes', () => {
    assert.throws(() => checkSeq2SeqFixture(null), (e: unknown) => e instanceof EngineError && e.code === 'bad-oracle');
    assert.throws(() => checkSeq2SeqFixture([1, 2]), (e: unknown) => e instanceof EngineError && e.code === 'bad-oracle');
  });
});

type CellCase = Pick<Seq2SeqSpec, 'cell' | 'gruVariant' | 'rnnActivation'> & { label: string };
const CELLS: CellCase[] = [
  { label: 'rnn tanh', cell: 'rnn', gruVariant: 'reset_after', rnnActivation: 'tanh' },
  { label: 'rnn relu', cell: 'rnn', gruVariant: 'reset_after', rnnActivation: 'relu' },
  { label: 'lstm', cell: 'lstm', gruVariant: 'reset_after', rnnActivation: 'tanh' },
  { label: 'gru reset_after', cell: 'gru', gruVariant: 'reset_after', rnnActivation: 'tanh' },
  { label: 'gru reset_before', cell: 'gru', gruVariant: 'reset_before', rnnActivation: 'tanh' },
];

function tinyModel(c: CellCase, attention: AttentionKind, layers: number, seed: number): Seq2Seq {
  const m = new Seq2Seq({ ...c, layers, hidden: 3, embed: 2, attention, attentionSize: 2, srcVocab: 7, tgtVocab: 6 });
  const rng = new Rng(seed);
  const d = m.params.data;
  for (let i = 0; i < d.length; i++) d[i] = rng.uniform() - 0.5;
  return m;
}

/** Three rows with different source and target lengths: padding in both. */
function paddedBatch(): Seq2SeqBatch {
  return makeBatch([
    { src: [3, 4, 5, 6], tgt: [3, 4] },
    { src: [6], tgt: [5, 3, 4, 5] },
    { src: [5, 3], tgt: [] },
  ]);
}

describe('seq2seq gradients: centered finite differences (every cell x attention x 1-3 layers, padded batch)', () => {
  const batch = paddedBatch();
  for (const c of CELLS) {
    for (const attention of ATTENTION_KINDS) {
      it(`${c.label}, ${attention}: 1-3 layers, 4 scalars of every tensor`, () => {
        let checked = 0;
        let worst = 0;
        for (let layers = 1; layers <= 3; layers++) {
          const m = tinyModel(c, attention, layers, 17 * layers + attention.length);
          m.params.zeroGrad();
          m.forward(batch);
          m.backward();
          const rng = new Rng(layers);
          for (const t of m.params.tensors) {
            // two random scalars, and two in a row the batch uses for the embeddings
            const picks = [Math.floor(rng.uniform() * t.size), Math.floor(rng.uniform() * t.size)];
            if (t.name === 'src_embedding.weight') picks.push(6 * 2, 5 * 2 + 1);
            else if (t.name === 'tgt_embedding.weight') picks.push(1 * 2, 4 * 2 + 1);
            else picks.push(t.size - 1, Math.floor(t.size / 2));
            for (const k of picks) {
              const i = t.offset + k;
              const keep = m.params.data[i];
              const eps = 1e-5;
              m.params.data[i] = keep + eps;
              const up = m.forward(batch);
              m.params.data[i] = keep - eps;
              const down = m.forward(batch);
              m.params.data[i] = keep;
              const fd = (up - down) / (2 * eps);
              const an = m.params.grad[i];
              const err = Math.abs(fd - an);
              worst = Math.max(worst, err / Math.max(1e-3, Math.abs(an)));
              assert.ok(err <= 1e-8 + 1e-6 * Math.abs(an), `${layers} layers, ${t.name}[${k}]: analytic ${an}, finite difference ${fd}`);
              checked++;
            }
          }
        }
        assert.ok(checked >= 3 * 4 * 10, `checked ${checked}`);
        console.log(`      ${checked} scalars, worst |fd - analytic| / max(|analytic|, 1e-3) = ${worst.toExponential(1)}`);
      });
    }
  }

  it('rows past a target length carry no gradient: the PAD embedding row and EOS row stay exactly 0', () => {
    const m = tinyModel(CELLS[2], 'dot', 2, 5);
    m.params.zeroGrad();
    m.forward(paddedBatch());
    m.backward();
    const g = m.params.gradView('tgt_embedding.weight');
    assert.deepEqual(Array.from(g.subarray(0, 2)), [0, 0]); // PAD
    assert.deepEqual(Array.from(g.subarray(4, 6)), [0, 0]); // EOS
    assert.ok(Math.abs(g[2]) > 0); // BOS is fed
    const s = m.params.gradView('src_embedding.weight');
    assert.deepEqual(Array.from(s.subarray(0, 6)), [0, 0, 0, 0, 0, 0]); // PAD, BOS, EOS never in a source
  });
});

describe('seq2seq step decoder (the StepDecoder the decoding code drives)', () => {
  for (const attention of ATTENTION_KINDS) {
    for (const c of [CELLS[2], CELLS[3], CELLS[0]]) {
      it(`${c.label}, ${attention}, 2 layers: fed the reference, each step gives the batch forward's log-probabilities and attention`, () => {
        const m = tinyModel(c, attention, 2, 99);
        const batch = paddedBatch();
        m.forward(batch);
        const dec = new Seq2SeqStepDecoder(m);
        const { B, S, T } = batch;
        const V = m.spec.tgtVocab;
        for (let b = 0; b < B; b++) {
          const n = batch.srcLengths[b];
          let state = dec.start(Array.from(batch.src.subarray(b * S, b * S + n)));
          const before = state.h[1].slice();
          for (let t = 0; t < batch.tgtLengths[b]; t++) {
            const r = dec.step(state, batch.tgtIn[b * T + t]);
            const z = m.logits.subarray((t * B + b) * V, (t * B + b + 1) * V);
            const lse = Math.log(Array.from(z).reduce((a, x) => a + Math.exp(x), 0));
            for (let k = 0; k < V; k++) assert.ok(Math.abs(r.logProbs[k] - (z[k] - lse)) < 1e-12, `b ${b} t ${t} k ${k}`);
            if (attention === 'none') assert.equal(r.attention, undefined);
            else for (let s = 0; s < n; s++) assert.ok(Math.abs(r.attention![s] - m.att[(t * B + b) * S + s]) < 1e-12);
            if (t === 0) assert.deepEqual(state.h[1], before, 'step() mutated its input state');
            state = r.state;
          }
        }
      });
    }
  }

  it('teacher forcing 0 feeds the greedy token: the same logits as greedy step decoding', () => {
    const m = tinyModel(CELLS[2], 'general', 1, 3);
    const batch = paddedBatch();
    m.forward(batch, { teacherForcing: 0, rng: new Rng(1) });
    const dec = new Seq2SeqStepDecoder(m);
    const { B, S, T } = batch;
    const V = m.spec.tgtVocab;
    let differs = false;
    for (let b = 0; b < B; b++) {
      let state = dec.start(Array.from(batch.src.subarray(b * S, b * S + batch.srcLengths[b])));
      let token = batch.tgtIn[b * T];
      for (let t = 0; t < batch.tgtLengths[b]; t++) {
        const r = dec.step(state, token);
        let best = 0;
        for (let k = 1; k < V; k++) if (r.logProbs[k] > r.logProbs[best]) best = k;
        const z = m.logits.subarray((t * B + b) * V, (t * B + b + 1) * V);
        const lse = Math.log(Array.from(z).reduce((a, x) => a + Math.exp(x), 0));
        for (let k = 0; k < V; k++) assert.ok(Math.abs(r.logProbs[k] - (z[k] - lse)) < 1e-12);
        if (t + 1 < batch.tgtLengths[b] && best !== batch.tgtIn[b * T + t + 1]) differs = true;
        token = best;
        state = r.state;
      }
    }
    assert.ok(differs, 'the greedy tokens never differed from the reference, so this test shows nothing');
  });
});

describe('seq2seq gradient flow through the encoder', () => {
  it('without attention everything arrives through the final state; with attention some arrives through the context', () => {
    const batch = paddedBatch();
    const none = tinyModel(CELLS[2], 'none', 2, 8);
    none.forward(batch);
    none.backward();
    const f0 = none.encoderFlow();
    assert.equal(f0.total.length, batch.S);
    assert.deepEqual(f0.attention, [0, 0, 0, 0]);
    for (let s = 0; s < batch.S; s++) assert.ok(Math.abs(f0.total[s] - f0.finalState[s]) < 1e-15 && f0.total[s] > 0);
    const dot = tinyModel(CELLS[2], 'dot', 2, 8);
    dot.forward(batch);
    dot.backward();
    const f1 = dot.encoderFlow();
    for (let s = 0; s < batch.S; s++) {
      assert.ok(f1.attention[s] > 0);
      assert.ok(f1.total[s] <= f1.attention[s] + f1.finalState[s] + 1e-15); // the two parts add as vectors
    }
  });
});

describe('seq2seq training runs (session, evaluation, checkpoints, exact resume)', () => {
  const base = { ...DEFAULT_CONFIG, name: 's2s-test', task: 'reverse' as const, srcLen: '3-5', hidden: 12, embedding: 6, batch: 8, lr: 0.01, heldOut: 40, evalEvery: 10, diagEvery: 5, checkpointEvery: 10, checkpointSeconds: 0, teacherForcing: 0.8, pinned: 2 };

  async function run(config: RunConfig, resume?: SessionStart['resume']) {
    const records: FromWorker[] = [];
    const summary = await runSession({ runId: 'r', config, dataText: '', resume, keepResumable: true }, (m) => records.push(m), () => false);
    const checkpoint = [...records].reverse().find((m) => m.type === 'checkpoint') as Extract<FromWorker, { type: 'checkpoint' }>;
    return { records, summary, state: checkpoint?.resumeState, checkpoint };
  }

  it('a run posts metrics with perplexity, encoder and decoder diagnostics with the encoder flow, evaluations with pinned attention, and a summary with exactMatch', async () => {
    const { records, summary } = await run({ ...base, attention: 'general', steps: 20 });
    const metrics = records.filter((m) => m.type === 'metrics').map((m) => (m as Extract<FromWorker, { type: 'metrics' }>).record);
    assert.equal(metrics.length, 20);
    assert.ok(Math.abs(metrics[0].perplexity! - Math.exp(metrics[0].loss)) < 1e-12);
    const diag = records.find((m) => m.type === 'diagnostics') as Extract<FromWorker, { type: 'diagnostics' }>;
    assert.ok(diag.record.spectrum.some((s) => s.block === 'encoder.f') && diag.record.spectrum.some((s) => s.block === 'decoder.all'));
    assert.ok(diag.record.saturation.some((s) => s.gate === 'decoder.o'));
    const flow = diag.record.encoderFlow!;
    assert.equal(flow.total.length, flow.attention.length);
    assert.ok(flow.attention.some((x) => x > 0) && flow.finalState.some((x) => x > 0));
    const evals = records.filter((m) => m.type === 'seq2seqEval').map((m) => (m as Extract<FromWorker, { type: 'seq2seqEval' }>).record);
    assert.deepEqual(evals.map((e) => e.step), [10, 20]);
    const e = evals[1];
    assert.equal(e.examples, 40);
    assert.equal(e.attention.length, 2);
    for (const map of e.attention) {
      assert.equal(map.weights.length, map.output.length);
      for (const row of map.weights) {
        assert.equal(row.length, map.source.length);
        // float32 (the default path): each weight is rounded to float32
        assert.ok(Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-6);
      }
    }
    assert.ok(e.alignmentAccuracy !== undefined && e.alignmentAccuracy >= 0 && e.alignmentAccuracy <= 1);
    assert.equal(summary.status, 'finished');
    assert.equal(summary.exactMatch, e.exactMatch);
    assert.equal(summary.tokenAccuracy, e.tokenAccuracy);
  });

  it('trains on the float32 WebAssembly SIMD path by default (Float32Array parameters and moments, F32 checkpoints that load back) and on the float64 one for precision float64', async () => {
    assert.ok(kernelArena(), 'WebAssembly SIMD is available in this Node');
    const f32 = await run({ ...base, precision: 'float32', steps: 6 });
    const f64 = await run({ ...base, precision: 'float64', steps: 6 });
    const pathOf = (r: { records: FromWorker[] }) => (r.records.find((m) => m.type === 'started') as Extract<FromWorker, { type: 'started' }>).path;
    assert.equal(pathOf(f32), 'wasm-simd-f32');
    assert.equal(f32.summary.path, 'wasm-simd-f32');
    assert.equal(pathOf(f64), 'js-f64');
    assert.equal(f64.summary.path, 'js-f64');
    const losses = (r: { records: FromWorker[] }) => r.records.filter((m) => m.type === 'metrics').map((m) => (m as Extract<FromWorker, { type: 'metrics' }>).record.loss);
    // The same model from the same initial draws: float32 rounding apart, the same losses.
    losses(f32).forEach((l, i) => {
      assert.ok(Math.abs(l - losses(f64)[i]) < 1e-4 * losses(f64)[i], `step ${i + 1}: ${l} vs ${losses(f64)[i]}`);
      assert.notEqual(l, losses(f64)[i]);
    });
    for (const [name, t] of decodeSafetensors(f32.checkpoint.bytes, 'ckpt').tensors) assert.equal(t.dtype, 'F32', name);
    for (const [name, t] of decodeSafetensors(f64.checkpoint.bytes, 'ckpt').tensors) assert.equal(t.dtype, 'F64', name);
    const loaded = loadSeq2SeqCheckpoint(f32.checkpoint.bytes, 'ckpt');
    assert.equal(loaded.config.precision, 'float32');
    const stored = decodeSafetensors(f32.checkpoint.bytes, 'ckpt').tensors.get('decoder.weight_hh_l0')!.data;
    assert.deepEqual(Array.from(loaded.model.params.view('decoder.weight_hh_l0')), Array.from(stored));
    const config = validateConfig({ ...base, precision: 'float32', steps: 1 }).config;
    const trainer = new Seq2SeqTrainer(config, seq2seqData(config));
    assert.ok(trainer.model.params.data instanceof Float32Array && trainer.optimizer.v instanceof Float32Array);
    const config64 = validateConfig({ ...base, precision: 'float64', steps: 1 }).config;
    const trainer64 = new Seq2SeqTrainer(config64, seq2seqData(config64));
    assert.ok(trainer64.model.params.data instanceof Float64Array && trainer64.optimizer.v instanceof Float64Array);
  });

  it('float32 runs are deterministic: the same config gives the same bits, for every attention kind', async () => {
    for (const attention of ['none', 'dot', 'general', 'additive'] as const) {
      const a = await run({ ...base, attention, cell: 'gru', steps: 8 });
      const b = await run({ ...base, attention, cell: 'gru', steps: 8 });
      assert.equal(a.summary.path, 'wasm-simd-f32');
      assert.deepEqual(b.checkpoint.bytes, a.checkpoint.bytes, attention);
      assert.deepEqual(b.state, a.state, attention);
    }
  });

  it('a diverging run ends diverged with the last good parameters kept, finite', async () => {
    // A ReLU RNN with Adam at lr 5 and no clipping: its activations grow without bound and overflow
    // float32 within a few steps (the faults suite's recipe).
    const recipe = { ...base, cell: 'rnn' as const, rnnActivation: 'relu' as const, lr: 5, clipMode: 'none' as const, srcLen: '8-12', steps: 20 };
    const config = validateConfig(recipe).config;
    const trainer = new Seq2SeqTrainer(config, seq2seqData(config));
    let err: unknown;
    try {
      for (let i = 0; i < 20; i++) trainer.trainStep();
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof EngineError && err.code === 'diverged', String(err));
    assert.ok(trainer.model.params.data.every((x) => Number.isFinite(x)));
    const { summary } = await run(recipe);
    assert.equal(summary.status, 'diverged');
    assert.match(summary.message!, /diverged at step \d+/);
  });

  it('gate saturation counts only real steps: padded encoder and decoder steps are no samples', () => {
    const config = validateConfig({ ...base, srcLen: '2-6', batch: 16, steps: 1 }).config;
    const trainer = new Seq2SeqTrainer(config, seq2seqData(config));
    trainer.trainStep(true);
    const m = trainer.model;
    const { B, S, T } = m.lastShape;
    const H = m.spec.hidden;
    const entries = trainer.saturation();
    const byHand = (side: 'encoder' | 'decoder', steps: number, real: (t: number, b: number) => boolean, k: number) => {
      const acts = side === 'encoder' ? m.encoderCache(0).gates : m.decoderCache(0).gates;
      let left = 0;
      let rows = 0;
      for (let t = 0; t < steps; t++) {
        for (let b = 0; b < B; b++) {
          if (!real(t, b)) continue;
          rows++;
          for (let j = 0; j < H; j++) if (acts[(t * B + b) * 4 * H + k * H + j] < 0.1) left++;
        }
      }
      return { left: left / (rows * H), rows };
    };
    const batchLengths = (() => {
      const real = m.realSteps('encoder');
      return Array.from({ length: B }, (_, b) => Array.from({ length: S }, (_, s) => real[s * B + b]).reduce((x, y) => x + y, 0));
    })();
    assert.ok(new Set(batchLengths).size > 1, 'the batch has sources of different lengths');
    const enc = byHand('encoder', S, (s, b) => s < batchLengths[b], 1);
    assert.ok(enc.rows < S * B);
    const e = entries.find((x) => x.layer === 0 && x.gate === 'encoder.f')!;
    assert.ok(Math.abs(e.left - enc.left) < 1e-12, `${e.left} vs ${enc.left}`);
    const decReal = m.realSteps('decoder');
    const dec = byHand('decoder', T, (t, b) => decReal[t * B + b] === 1, 0);
    assert.ok(dec.rows < T * B);
    const d = entries.find((x) => x.layer === 0 && x.gate === 'decoder.i')!;
    assert.ok(Math.abs(d.left - dec.left) < 1e-12, `${d.left} vs ${dec.left}`);
  });

  it('batched greedy evaluation gives the same outputs as greedyDecode over the StepDecoder', async () => {
    const config = validateConfig({ ...base, attention: 'additive', cell: 'gru', steps: 1 }).config;
    const trainer = new Seq2SeqTrainer(config, seq2seqData(config));
    for (let i = 0; i < 30; i++) trainer.trainStep();
    const held = trainer.data.heldOut.slice(0, 25);
    const batch = makeBatch(held);
    const g = trainer.inferenceModel().greedyDecodeBatch(batch.src, batch.srcLengths, batch.B, batch.S, 9);
    const dec = new Seq2SeqStepDecoder(trainer.model);
    let some = 0;
    held.forEach((ex, b) => {
      const r = greedyDecode(dec, ex.src, { maxLenRatio: 0, maxLenExtra: 9 });
      assert.deepEqual(g.tokens[b], r.tokens);
      assert.equal(g.finished[b], r.finished);
      if (r.tokens.length) some++;
    });
    assert.ok(some > 10);
  });

  for (const precision of ['float32', 'float64'] as const) {
    it(`resume from a checkpoint continues bit for bit (${precision}): the same losses and the same final weights`, async () => {
      const config = { ...base, precision, attention: 'additive' as const, cell: 'lstm' as const, layers: 2, steps: 30 };
      const whole = await run(config);
      const first = await run({ ...config, steps: 20 });
      const second = await run(config, { checkpoint: first.checkpoint.bytes, state: first.state!, where: 'first' });
      const losses = (rs: FromWorker[]) => rs.filter((m) => m.type === 'metrics').map((m) => (m as Extract<FromWorker, { type: 'metrics' }>).record.loss);
      assert.deepEqual([...losses(first.records), ...losses(second.records)], losses(whole.records));
      assert.deepEqual(second.checkpoint.bytes, whole.checkpoint.bytes);
      assert.equal(whole.summary.path, precision === 'float32' ? 'wasm-simd-f32' : 'js-f64');
    });
  }

  it('a seq2seq resume file is a checkpoint generation by itself (format /2): the checkpoint derives from it byte for byte, and a resume from it continues bit for bit', async () => {
    const config = { ...base, attention: 'dot' as const, cell: 'gru' as const, steps: 30 };
    const whole = await run(config);
    const first = await run({ ...config, steps: 20 });
    const decoded = decodeSafetensors(first.state!, 'resume');
    assert.equal(resumeStateInfo(decoded, 'resume').selfSufficient, true);
    assert.deepEqual(checkpointFromState(decoded, 'resume'), first.checkpoint.bytes);
    assert.equal(first.summary.checkpointStep, 20);
    const second = await run(config, { checkpoint: checkpointFromState(decoded, 'resume'), state: first.state!, where: 'first' });
    const losses = (rs: FromWorker[]) => rs.filter((m) => m.type === 'metrics').map((m) => (m as Extract<FromWorker, { type: 'metrics' }>).record.loss);
    assert.deepEqual([...losses(first.records), ...losses(second.records)], losses(whole.records));
    assert.deepEqual(second.checkpoint.bytes, whole.checkpoint.bytes);
    assert.deepEqual(second.state, whole.state);
  });

  it('checkpoints fall every checkpointSeconds by the injected clock, once per step, and at the end', async () => {
    let t = 0;
    const records: FromWorker[] = [];
    const config = { ...base, checkpointEvery: 0, checkpointSeconds: 1, steps: 12 };
    // Each clock read advances 0.3 s: a generation about every 3 steps.
    await runSession({ runId: 'r', config, dataText: '', keepResumable: true }, (m) => records.push(m), () => false, { clock: () => (t += 300) });
    const steps = records.filter((m) => m.type === 'checkpoint').map((m) => (m as Extract<FromWorker, { type: 'checkpoint' }>).step);
    assert.ok(steps.length >= 3, `checkpoints at ${steps}`);
    assert.equal(steps.at(-1), 12);
    assert.equal(new Set(steps).size, steps.length);
    for (const m of records) if (m.type === 'checkpoint') assert.ok(m.resumeState);
  });

  it('a checkpoint holds the oracle-s2s names and both vocabularies, and loads back into the same model', async () => {
    const { checkpoint } = await run({ ...base, attention: 'dot', steps: 10 });
    const { tensors, metadata } = decodeSafetensors(checkpoint.bytes, 'ck');
    assert.ok(tensors.has('encoder.weight_ih_l0') && tensors.has('attention.combine.weight') && tensors.has('tgt_embedding.weight') && tensors.has('head.bias'));
    assert.equal(JSON.parse(metadata.srcVocab).tokens.slice(0, 4).join(), '<pad>,<bos>,<eos>,0');
    const loaded = loadSeq2SeqCheckpoint(checkpoint.bytes, 'ck');
    assert.equal(loaded.step, 10);
    assert.deepEqual(Array.from(loaded.model.params.view('head.weight')), Array.from(tensors.get('head.weight')!.data));
  });

  it('seq2seq config fields are validated with clear messages', () => {
    const bad = (patch: Record<string, unknown>, re: RegExp) =>
      assert.throws(() => validateConfig({ ...base, ...patch }), (e: unknown) => e instanceof EngineError && e.code === 'bad-config' && re.test(e.message));
    bad({ srcLen: '10-5' }, /"srcLen" must be "lo-hi"/);
    bad({ srcLen: 'long' }, /"srcLen" must be "lo-hi"/);
    bad({ attention: 'bahdanau' }, /"attention" must be one of none, dot, general, additive/);
    bad({ teacherForcing: 1.5 }, /"teacherForcing" must be between 0 and 1/);
    bad({ task: 'translate' }, /"task" must be one of .*reverse/);
    assert.equal(validateConfig({ ...base, srcLen: '7' }).config.srcLen, '7');
  });

  it('a pairs file trains with BLEU in its evaluations, and a file without a usable pair is one clear failure', async () => {
    const pairs = Array.from({ length: 60 }, (_, i) => `go ${i % 7} now\tva ${i % 7} maintenant`).join('\n') + '\nno tab here\n';
    const records: FromWorker[] = [];
    const summary = await runSession({ runId: 'p', config: { ...base, task: 'seq2seq', data: 'pairs.tsv', tokenization: 'word', steps: 10 }, dataText: pairs }, (m) => records.push(m), () => false);
    assert.equal(summary.status, 'finished');
    assert.ok(records.some((m) => m.type === 'log' && /line 61/.test(m.message)));
    const e = records.find((m) => m.type === 'seq2seqEval') as Extract<FromWorker, { type: 'seq2seqEval' }>;
    assert.ok(e.record.bleu !== undefined && /BLEU-4/.test(e.record.bleuRecipe!));
    const failed = await runSession({ runId: 'q', config: { ...base, task: 'seq2seq', data: 'pairs.tsv', steps: 10 }, dataText: 'nothing\nusable\n' }, () => {}, () => false);
    assert.equal(failed.status, 'failed');
    assert.match(failed.message!, /pair/);
  });
});
