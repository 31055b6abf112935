/**
 * PyTorch interop and exact resume: the safetensors bytes against the format's spec, the oracle
 * fixtures converted to PyTorch state_dicts (the mapping of ../shared/oracle/README.md, written
 * out here independently of src/engine/oracle.ts) and loaded through the import path, every bad
 * file the import can meet, and a resumed run against an uninterrupted one.
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MetricsRecord, RunConfig } from '../../src/protocol/config';
import type { FromWorker } from '../../src/protocol/trainingWorker';
import { encodeCheckpoint, loadCheckpoint } from '../../src/engine/checkpoint';
import { DEFAULT_CONFIG, validateConfig } from '../../src/engine/config';
import { EngineError } from '../../src/engine/errors';
import { exportStateDict, importAsRun, inferStateDict, networkFromStateDict, vocabularyFrom } from '../../src/engine/interop';
import type { OracleFixture } from '../../src/engine/oracle';
import { decodeSafetensors, encodeSafetensors, type NamedTensor } from '../../src/engine/safetensors';
import { checkpointBytes, datasetFor, runSession } from '../../src/engine/session';
import { Trainer } from '../../src/engine/trainer';

const root = join(__dirname, '../..');
const fixtureDir = join(root, 'test/fixtures/oracle');
const cli = join(root, 'dist/cli.js');
const austen = readFileSync(join(root, 'data/austen_pride_prejudice.txt'), 'utf8');

type Nested = number | Nested[];
const flat = (x: Nested): number[] => (Array.isArray(x) ? x.flatMap(flat) : [x]);

/** The header of a safetensors file as the spec lays it out, read byte by byte. */
function readHeader(bytes: Uint8Array): { n: number; text: string; json: Record<string, any> } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = Number(view.getBigUint64(0, true));
  // The u64 is little-endian: byte 0 is the least significant.
  assert.equal(bytes[0] + 256 * bytes[1] + 65536 * bytes[2], n);
  assert.deepEqual([...bytes.subarray(3, 8)], [0, 0, 0, 0, 0]);
  const text = new TextDecoder().decode(bytes.subarray(8, 8 + n));
  return { n, text, json: JSON.parse(text) };
}

function trainerFor(config: Partial<RunConfig>, text = austen.slice(0, 4000)): Trainer {
  const c = validateConfig({ precision: 'float64', ...config }).config;
  return new Trainer(c, datasetFor(c, text));
}

describe('safetensors bytes against the spec', () => {
  it('8-byte LE length, JSON header with dtype/shape/data_offsets, offsets contiguous from 0, space padding to 8, __metadata__ string->string', () => {
    // A vocabulary with multi-byte UTF-8: the padding must count bytes, not characters.
    const t = trainerFor({ cell: 'lstm', layers: 2, hidden: 6, embedding: 3, seqLength: 8, batch: 2 }, 'café — naïve résumé. '.repeat(20));
    const bytes = checkpointBytes(t);
    const { n, text, json } = readHeader(bytes);
    assert.equal(n % 8, 0, 'header length is a multiple of 8 (the reference pads so)');
    assert.equal(text, text.trimEnd() + ' '.repeat(text.length - text.trimEnd().length), 'only trailing spaces pad');
    assert.ok(n - new TextEncoder().encode(text.trimEnd()).length < 8, 'at most 7 padding bytes');
    assert.equal(text[0], '{');
    const meta = json.__metadata__;
    assert.ok(Object.values(meta).every((v) => typeof v === 'string'));
    assert.deepEqual(JSON.parse(meta.vocab), [...new Set(Array.from('café — naïve résumé. '))].sort());
    const names = Object.keys(json).filter((k) => k !== '__metadata__');
    assert.deepEqual(names, ['embedding.weight', 'weight_ih_l0', 'weight_hh_l0', 'bias_ih_l0', 'bias_hh_l0', 'weight_ih_l1', 'weight_hh_l1', 'bias_ih_l1', 'bias_hh_l1', 'head.weight', 'head.bias']);
    assert.deepEqual(json.weight_ih_l0.shape, [24, 3]);
    assert.deepEqual(json.weight_hh_l1.shape, [24, 6]);
    let end = 0;
    for (const name of names) {
      const e = json[name];
      assert.deepEqual(Object.keys(e).sort(), ['data_offsets', 'dtype', 'shape']);
      assert.equal(e.dtype, 'F64');
      assert.equal(e.data_offsets[0], end, `${name} starts where the previous tensor ended`);
      end = e.data_offsets[1];
      assert.equal(end - e.data_offsets[0], 8 * e.shape.reduce((a: number, b: number) => a * b, 1));
    }
    assert.equal(8 + n + end, bytes.length, 'the data region ends at the end of the file');
    // The values are raw little-endian float64 in row-major order.
    const w = t.net.params.view('weight_hh_l1');
    const at = 8 + n + json.weight_hh_l1.data_offsets[0] + 8 * 7;
    assert.equal(new DataView(bytes.buffer, bytes.byteOffset).getFloat64(at, true), w[7]);
  });

  it('a tiny file byte for byte', () => {
    const bytes = encodeSafetensors([{ name: 'a', shape: [2], data: Float64Array.from([1, -2]) }], { k: 'v' }, 'F32');
    const header = '{"__metadata__":{"k":"v"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}';
    const padded = header + ' '.repeat((8 - (header.length % 8)) % 8);
    const expected = new Uint8Array(8 + padded.length + 8);
    new DataView(expected.buffer).setBigUint64(0, BigInt(padded.length), true);
    expected.set(new TextEncoder().encode(padded), 8);
    expected.set([0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0], 8 + padded.length); // 1.0f, -2.0f little-endian
    assert.deepEqual([...bytes], [...expected]);
  });

  it('round trip: a trained checkpoint loads into the same weights; export f64 is exact, f32 rounds to float32', () => {
    const t = trainerFor({ cell: 'gru', layers: 2, hidden: 8, seqLength: 10, batch: 3, steps: 5 });
    for (let i = 0; i < 5; i++) t.trainStep();
    const ckpt = checkpointBytes(t);
    const loaded = loadCheckpoint(ckpt, 'ckpt');
    assert.deepEqual(loaded.net.params.data, t.net.params.data);
    assert.deepEqual(loaded.vocab, t.dataset.kind === 'text' ? t.dataset.vocab : undefined);
    const f64 = exportStateDict(ckpt, 'ckpt', 'F64');
    const back = loadCheckpoint(importAsRun(f64.bytes, 'export.safetensors', { name: 'back' }).checkpoint, 'back');
    assert.deepEqual(back.net.params.data, t.net.params.data);
    assert.equal(back.config.cell, 'gru');
    assert.equal(back.config.gruVariant, 'reset_after');
    const f32 = exportStateDict(ckpt, 'ckpt', 'F32');
    assert.ok(f32.bytes.length < 0.6 * f64.bytes.length);
    const back32 = loadCheckpoint(importAsRun(f32.bytes, 'f32', { name: 'back32' }).checkpoint, 'back32');
    assert.deepEqual(back32.net.params.data, t.net.params.data.map(Math.fround));
    assert.ok(f32.warnings.some((w) => /float32/.test(w)));
  });

  it('import with the training text measures the weights on it: validation loss as a Trainer at those weights computes it, saturation, flow', () => {
    const text = austen.slice(0, 8000);
    const t = trainerFor({ cell: 'lstm', layers: 2, hidden: 10, seqLength: 12, batch: 4 }, text);
    for (let i = 0; i < 8; i++) t.trainStep();
    const exported = exportStateDict(checkpointBytes(t), 'ckpt', 'F64').bytes;
    // The metadata's vocabulary aside, as for a file from PyTorch: the vocabulary and text come from the file given.
    const { __metadata__: _, ...plain } = readHeader(exported).json;
    const run = importAsRun(withHeader(exported, () => plain), 'model.safetensors', { name: 'x', vocab: vocabularyFrom(text, 't.txt'), vocabSource: 't.txt', text });
    // The import knows only the default config (seqLength 50, batch 16): evaluate as it does.
    const reference = trainerFor({ cell: 'lstm', layers: 2, hidden: 10, precision: run.config.precision }, text);
    reference.net.params.data.set(t.net.params.data);
    assert.equal(run.summary.valLoss, reference.evaluate(2000)!.loss);
    assert.ok(run.summary.bpc! > 1 && run.summary.bpc! < 7, String(run.summary.bpc));
    assert.deepEqual(run.diagnostics.saturation.map((s) => `${s.layer}${s.gate}`), ['0i', '0f', '0g', '0o', '1i', '1f', '1g', '1o']);
    assert.deepEqual(run.diagnostics.flow.map((f) => [f.layer, f.h.length, f.c!.length]), [[0, 50, 50], [1, 50, 50]]);
    assert.ok(run.diagnostics.flow.every((f) => f.h.every((x) => Number.isFinite(x) && x >= 0) && f.h[0] > 0));
    assert.equal(Object.keys(run.diagnostics.paramGradNorms).length, 10);
    assert.match(run.summary.message!, /on t\.txt: validation bpc \d\.\d{3}, training-chunk bpc \d\.\d{3}/);
    // A caller on a UI thread caps the probe's cost; past it the import still succeeds, without the probe.
    const capped = importAsRun(withHeader(exported, () => plain), 'model.safetensors', { name: 'x', vocab: vocabularyFrom(text, 't.txt'), text, probeBudgetFlops: 1e6 });
    assert.equal(capped.summary.valLoss, undefined);
    assert.equal(capped.diagnostics.flow.length, 0);
    assert.ok(capped.warnings.some((w) => /too large to measure saturation and gradient flow here/.test(w)));
  });

  it('a vanilla RNN from a plain state_dict: tanh is assumed and said; the caller or the file\'s metadata settles it without a warning', () => {
    const t = trainerFor({ cell: 'rnn', rnnActivation: 'relu', hidden: 5, seqLength: 6, batch: 2 });
    const exported = exportStateDict(checkpointBytes(t), 'ckpt').bytes;
    const fromUs = inferStateDict(exported, 'ours.safetensors');
    assert.equal(fromUs.spec.rnnActivation, 'relu');
    assert.equal(fromUs.activationAssumed, false);
    const { __metadata__: _, ...plain } = readHeader(exported).json;
    const bare = withHeader(exported, () => plain);
    const assumed = inferStateDict(bare, 'torch.safetensors');
    assert.equal(assumed.spec.rnnActivation, 'tanh');
    assert.equal(assumed.activationAssumed, true);
    assert.ok(assumed.warnings.some((w) => /nonlinearity/.test(w) && /--activation relu/.test(w)), assumed.warnings.join('; '));
    const told = inferStateDict(bare, 'torch.safetensors', { rnnActivation: 'relu' });
    assert.equal(told.spec.rnnActivation, 'relu');
    assert.equal(told.activationAssumed, false);
    assert.ok(!told.warnings.some((w) => /nonlinearity/.test(w)));
    const lstm = inferStateDict(withHeader(exportStateDict(checkpointBytes(trainerFor({ cell: 'lstm', hidden: 5, seqLength: 6, batch: 2 })), 'ckpt').bytes, (j) => { const { __metadata__: _m, ...rest } = j; return rest; }), 'lstm');
    assert.equal(lstm.activationAssumed, false);
  });

  it('exporting a reset-before GRU says it has no PyTorch module, in the result and the metadata; import keeps the variant', () => {
    const t = trainerFor({ cell: 'gru', gruVariant: 'reset_before', hidden: 5, seqLength: 6, batch: 2 });
    const out = exportStateDict(checkpointBytes(t), 'ckpt');
    assert.ok(out.warnings.some((w) => /reset gate before/.test(w) && /torch\.nn\.GRU/.test(w)));
    const meta = decodeSafetensors(out.bytes).metadata;
    assert.match(meta.warning, /torch\.nn\.GRU applies it after/);
    assert.equal(meta.gru_variant, 'reset_before');
    assert.equal(inferStateDict(out.bytes, 'x').spec.gruVariant, 'reset_before');
    const lstm = exportStateDict(checkpointBytes(trainerFor({ cell: 'lstm', hidden: 5, seqLength: 6, batch: 2, embedding: 4 })), 'ckpt');
    assert.equal(lstm.warnings.length, 0);
    assert.deepEqual(lstm.modules.map((m) => m.split(' ')[0]), ['embedding', 'rnn', 'head']);
    assert.match(lstm.modules[1], /torch\.nn\.LSTM\(input_size=4, hidden_size=5, num_layers=1\)/);
  });

  it('--prefix puts the recurrent tensors under a submodule; import strips it again', () => {
    const t = trainerFor({ cell: 'rnn', rnnActivation: 'relu', hidden: 5, seqLength: 6, batch: 2 });
    const out = exportStateDict(checkpointBytes(t), 'ckpt', 'F64', 'rnn.');
    const names = [...decodeSafetensors(out.bytes).tensors.keys()];
    assert.deepEqual(names, ['rnn.weight_ih_l0', 'rnn.weight_hh_l0', 'rnn.bias_ih_l0', 'rnn.bias_hh_l0', 'head.weight', 'head.bias']);
    const m = inferStateDict(out.bytes, 'x');
    assert.equal(m.prefix, 'rnn.');
    assert.equal(m.spec.rnnActivation, 'relu');
  });
});

/** A fixture's neutral weights as the state_dict of torch.nn.RNN/LSTM/GRU (+ nn.Linear), per the README's mapping. */
function fixtureStateDict(f: OracleFixture, prefix: string, headName: string): NamedTensor[] {
  const H = f.dims.hidden_size;
  const gates = f.cell === 'rnn' ? ['h'] : f.cell === 'lstm' ? ['i', 'f', 'g', 'o'] : ['r', 'z', 'h']; // PyTorch order; GRU n = neutral h
  const G = gates.length;
  const out: NamedTensor[] = [];
  for (let l = 0; l < f.dims.layers; l++) {
    const I = l === 0 ? f.dims.input_size : H;
    const w = f.weights[l];
    const wih = new Float64Array(G * H * I);
    const whh = new Float64Array(G * H * H);
    const bih = new Float64Array(G * H);
    const bhh = new Float64Array(G * H);
    gates.forEach((g, gi) => {
      const wx = flat(w[`W_x${g}`]); // [I][H]: PyTorch's block is its transpose
      const wh = flat(w[`W_h${g}`]);
      for (let j = 0; j < H; j++) {
        for (let k = 0; k < I; k++) wih[(gi * H + j) * I + k] = wx[k * H + j];
        for (let k = 0; k < H; k++) whh[(gi * H + j) * H + k] = wh[k * H + j];
      }
      // One bias per gate goes to bias_ih (only the sum matters); gru_ra1 has both.
      if (w[`b_${g}`] !== undefined) bih.set(flat(w[`b_${g}`]), gi * H);
      else {
        bih.set(flat(w[`b_x${g}`]), gi * H);
        bhh.set(flat(w[`b_h${g}`]), gi * H);
      }
    });
    out.push(
      { name: `${prefix}weight_ih_l${l}`, shape: [G * H, I], data: wih },
      { name: `${prefix}weight_hh_l${l}`, shape: [G * H, H], data: whh },
      { name: `${prefix}bias_ih_l${l}`, shape: [G * H], data: bih },
      { name: `${prefix}bias_hh_l${l}`, shape: [G * H], data: bhh },
    );
  }
  if (f.dense) {
    const V = flat(f.dense.b_y).length;
    const wy = flat(f.dense.W_y); // [H][V]
    const hw = new Float64Array(V * H);
    for (let v = 0; v < V; v++) for (let j = 0; j < H; j++) hw[v * H + j] = wy[j * V + v];
    out.push({ name: `${headName}.weight`, shape: [V, H], data: hw }, { name: `${headName}.bias`, shape: [V], data: Float64Array.from(flat(f.dense.b_y)) });
  }
  return out;
}

function maxRelError(ours: ArrayLike<number>, theirs: number[]): number {
  assert.equal(ours.length, theirs.length);
  let d = 0;
  let s = 0;
  for (let i = 0; i < theirs.length; i++) {
    d = Math.max(d, Math.abs(ours[i] - theirs[i]));
    s = Math.max(s, Math.abs(theirs[i]));
  }
  return d / Math.max(s, 1e-12);
}

describe('oracle fixtures as PyTorch state_dicts, through the import path', () => {
  const files = readdirSync(fixtureDir).filter((f) => f.endsWith('.json'));
  it('finds the 12 fixtures', () => assert.equal(files.length, 12));
  files.forEach((file, idx) => {
    it(`${file}: imported weights reproduce every output of the float64 reference (and export gives the same PyTorch tensors back)`, () => {
      const f = JSON.parse(readFileSync(join(fixtureDir, file), 'utf8')) as OracleFixture;
      const { batch: B, time: T, input_size: I, hidden_size: H, layers: L } = f.dims;
      // Vary the naming a PyTorch user might have: a bare module, a wrapper's `rnn.` prefix, `decoder` for the head.
      const prefix = idx % 2 ? 'rnn.' : '';
      const headName = idx % 3 ? 'head' : 'decoder';
      // reset_before has no PyTorch module: its variant comes from __metadata__ as RNN Lab writes it.
      const metadata: Record<string, string> = f.cell === 'gru_ra0' ? { gru_variant: 'reset_before' } : {};
      const bytes = encodeSafetensors(fixtureStateDict(f, prefix, headName), metadata);
      const { net, inferred } = networkFromStateDict(bytes, file);
      assert.equal(inferred.spec.cell, f.cell.startsWith('gru') ? 'gru' : f.cell);
      assert.equal(inferred.spec.layers, L);
      assert.equal(inferred.spec.hidden, H);
      assert.equal(net.inputSize, I);
      assert.equal(inferred.hasHead, !!f.dense);
      const state = net.newState(B);
      for (let l = 0; l < L; l++) {
        state.h[l].set(flat(f.initial_state[l].h));
        if (f.cell === 'lstm') state.c[l].set(flat(f.initial_state[l].c!));
      }
      const inputs = flat(f.inputs);
      const x = new Float64Array(T * B * I);
      for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) for (let k = 0; k < I; k++) x[(t * B + b) * I + k] = inputs[(b * T + t) * I + k];
      net.forward(x, T, B, state);
      const batchMajor = (v: ArrayLike<number>, D: number) => {
        const o = new Float64Array(v.length);
        for (let t = 0; t < T; t++) for (let b = 0; b < B; b++) for (let k = 0; k < D; k++) o[(b * T + t) * D + k] = v[(t * B + b) * D + k];
        return o;
      };
      const ref = f.float64.outputs;
      let worst = 0;
      for (let l = 0; l < L; l++) {
        worst = Math.max(worst, maxRelError(batchMajor(net.layerOutputs(l), H), flat(ref.per_layer[l].h_seq)));
        worst = Math.max(worst, maxRelError(state.h[l], flat(ref.per_layer[l].h_final)));
        if (f.cell === 'lstm') worst = Math.max(worst, maxRelError(state.c[l], flat(ref.per_layer[l].c_final)));
      }
      if (f.dense) {
        const V = net.outputSize;
        const top = net.topOutputs();
        const hw = net.params.view('head.weight');
        const hb = net.params.view('head.bias');
        const logits = new Float64Array(T * B * V);
        for (let r = 0; r < T * B; r++) for (let v = 0; v < V; v++) {
          let s = hb[v];
          for (let j = 0; j < H; j++) s += top[r * H + j] * hw[v * H + j];
          logits[r * V + v] = s;
        }
        worst = Math.max(worst, maxRelError(batchMajor(logits, V), flat(ref.logits!)));
      }
      assert.ok(worst < 1e-12, `max relative error ${worst}`);

      if (f.dense) {
        // Dense inputs with a softmax head over other classes are no RNN Lab run: the import says why.
        assert.throws(() => importAsRun(bytes, file, { name: 'x' }), /head has 5 outputs for 3 inputs/);
      } else {
        // Without a head it becomes a forecasting run; its checkpoint (what sampling and the
        // diagnostics load) computes the same hidden states.
        const run = importAsRun(bytes, file, { name: 'imported' });
        assert.equal(run.config.task, 'forecast');
        assert.ok(run.warnings.some((w) => /no head/.test(w)));
        assert.equal(run.diagnostics.spectrum.length, L * (f.cell === 'rnn' ? 1 : (f.cell === 'lstm' ? 4 : 3) + 1));
        const model = loadCheckpoint(run.checkpoint, 'imported');
        const s2 = model.net.newState(B);
        for (let l = 0; l < L; l++) {
          s2.h[l].set(flat(f.initial_state[l].h));
          if (f.cell === 'lstm') s2.c[l].set(flat(f.initial_state[l].c!));
        }
        model.net.forward(x, T, B, s2);
        assert.ok(maxRelError(batchMajor(model.net.layerOutputs(L - 1), H), flat(ref.per_layer[L - 1].h_seq)) < 1e-12);
        // And back out: export writes exactly the PyTorch tensors the README's mapping gives.
        const exported = decodeSafetensors(exportStateDict(run.checkpoint, 'imported', 'F64', prefix).bytes).tensors;
        for (const t of fixtureStateDict(f, prefix, headName)) {
          const e = exported.get(t.name);
          assert.ok(e, `export lacks ${t.name}`);
          assert.deepEqual(e.shape, t.shape, t.name);
          assert.deepEqual([...e.data], [...t.data], t.name);
        }
      }
    });
  });
});

/** A small valid state_dict: one-layer LSTM, input 3, hidden 2, head 3. */
function goodTensors(): NamedTensor[] {
  const r = (n: number) => Float64Array.from({ length: n }, (_, i) => ((i * 37) % 11) / 16 - 0.3);
  return [
    { name: 'weight_ih_l0', shape: [8, 3], data: r(24) },
    { name: 'weight_hh_l0', shape: [8, 2], data: r(16) },
    { name: 'bias_ih_l0', shape: [8], data: r(8) },
    { name: 'bias_hh_l0', shape: [8], data: r(8) },
    { name: 'head.weight', shape: [3, 2], data: r(6) },
    { name: 'head.bias', shape: [3], data: r(3) },
  ];
}

/** Rewrites a file's header (keeping its data), for hand-made bad headers. */
function withHeader(bytes: Uint8Array, edit: (h: Record<string, any>) => Record<string, any> | string): Uint8Array {
  const { n, json } = readHeader(bytes);
  const edited = edit(json);
  const text = typeof edited === 'string' ? edited : JSON.stringify(edited);
  const head = new TextEncoder().encode(text);
  const out = new Uint8Array(8 + head.length + bytes.length - 8 - n);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  out.set(bytes.subarray(8 + n), 8 + head.length);
  return out;
}

describe('bad files: one clear error naming the problem, nothing created', () => {
  const good = encodeSafetensors(goodTensors(), { vocab: JSON.stringify(['a', 'b', 'c']) });
  const shape = (name: string, s: number[], n = s.reduce((a, b) => a * b, 1)) =>
    encodeSafetensors(goodTensors().map((t) => (t.name === name ? { name, shape: s, data: new Float64Array(n) } : t)), { vocab: '["a","b","c"]' });
  const cases: [string, Uint8Array, RegExp][] = [
    ['shorter than the length field', good.subarray(0, 5), /only 5 bytes, shorter than the 8-byte header length/],
    ['truncated in the data', good.subarray(0, good.length - 3), /overruns the data/],
    ['truncated in the header', good.subarray(0, 60), /header length \d+ runs past the end of the file \(60 bytes\)/],
    ['header length past the end', (() => { const b = Uint8Array.from(good); new DataView(b.buffer).setBigUint64(0, 1n << 40n, true); return b; })(), /header length 1099511627776 runs past the end/],
    ['invalid JSON', withHeader(good, (h) => JSON.stringify(h).slice(0, -2)), /header is not valid JSON/],
    ['not a JSON object', withHeader(good, () => '[1,2]   '), /does not start with "\{"/],
    ['unknown dtype', withHeader(good, (h) => ({ ...h, weight_hh_l0: { ...h.weight_hh_l0, dtype: 'F8_E4M3X' } })), /tensor weight_hh_l0 has unknown dtype "F8_E4M3X"/],
    ['overlapping offsets', withHeader(good, (h) => ({ ...h, bias_ih_l0: { ...h.bias_ih_l0, data_offsets: [h.bias_ih_l0.data_offsets[0] - 8, h.bias_ih_l0.data_offsets[1] - 8] } })), /overlaps tensor weight_hh_l0/],
    ['offsets overrunning the data', withHeader(good, (h) => ({ ...h, 'head.bias': { ...h['head.bias'], shape: [4], data_offsets: [h['head.bias'].data_offsets[0], h['head.bias'].data_offsets[1] + 8] } })), /tensor head\.bias overruns the data/],
    ['offsets not matching the shape', withHeader(good, (h) => ({ ...h, bias_hh_l0: { ...h.bias_hh_l0, shape: [9] } })), /tensor bias_hh_l0: 64 bytes do not fit shape \[9\] of F64/],
    ['bytes after the last tensor', (() => { const b = new Uint8Array(good.length + 8); b.set(good); return b; })(), /8 bytes after the last tensor/],
    ['metadata value not a string', withHeader(good, (h) => ({ ...h, __metadata__: { vocab: 3 } })), /__metadata__\.vocab is not a string/],
    ['not a safetensors file at all', new TextEncoder().encode('hello, this is just some text in a file'), /runs past the end|does not start/],
    ['gate blocks that are no RNN, GRU or LSTM', shape('weight_hh_l0', [10, 2]), /weight_hh_l0 has shape \[10, 2\]: 10\/2 is not 1 \(RNN\), 3 \(GRU\) or 4 \(LSTM\)/],
    ['weight_ih rows not matching weight_hh', shape('weight_ih_l0', [6, 3]), /weight_ih_l0 has shape \[6,3\], expected \[8, input size\]/],
    ['bias of the wrong length', shape('bias_hh_l0', [7]), /bias_hh_l0 has shape \[7\], expected \[8\]/],
    ['head not reading the hidden size', shape('head.weight', [3, 5]), /head\.weight has shape \[3,5\], expected \[outputs, 2\]/],
    ['head bias not matching the head', shape('head.bias', [4]), /head\.bias has shape \[4\], expected \[3\]/],
    ['a layer missing in the middle', encodeSafetensors([...goodTensors(), { name: 'weight_ih_l2', shape: [8, 2], data: new Float64Array(16) }], {}), /weight_ih_l2 is of layer 2, but layer 1 has no weights/],
    ['a layer above the first not taking the hidden state', encodeSafetensors([...goodTensors(), { name: 'weight_ih_l1', shape: [8, 3], data: new Float64Array(24) }, { name: 'weight_hh_l1', shape: [8, 2], data: new Float64Array(16) }], {}), /weight_ih_l1 has shape \[8,3\], expected \[8, 2\]/],
    ['a bidirectional RNN', encodeSafetensors([...goodTensors(), { name: 'weight_ih_l0_reverse', shape: [8, 3], data: new Float64Array(24) }], {}), /bidirectional/],
    ['no recurrent weights', encodeSafetensors([{ name: 'fc.weight', shape: [2, 2], data: new Float64Array(4) }], {}), /no recurrent weights/],
    ['integer weights', withHeader(good, (h) => ({ ...h, bias_hh_l0: { ...h.bias_hh_l0, dtype: 'I64' } })), /bias_hh_l0 has dtype I64; weights must be floating point/],
    ['a NaN weight', encodeSafetensors(goodTensors().map((t) => (t.name === 'bias_ih_l0' ? { ...t, data: Float64Array.from([0, 0, NaN, 0, 0, 0, 0, 0]) } : t)), { vocab: '["a","b","c"]' }), /bias_ih_l0 holds NaN at index 2/],
    ['an embedding without a vocabulary', encodeSafetensors([...goodTensors().slice(0, 4), { name: 'embedding.weight', shape: [5, 3], data: new Float64Array(15) }], {}), /embedding of 5 symbols but no vocabulary/],
    ['a vocabulary of the wrong size', encodeSafetensors(goodTensors(), { vocab: '["a","b","c","d"]' }), /vocabulary has 4 symbols but the model takes one-hot inputs of 3/],
    ['an embedding whose width is not the input size', encodeSafetensors([...goodTensors(), { name: 'embedding.weight', shape: [3, 4], data: new Float64Array(12) }], { vocab: '["a","b","c"]' }), /embedding\.weight has shape \[3,4\], expected \[vocabulary, 3\]/],
  ];

  for (const [what, bytes, message] of cases) {
    it(what, () => {
      assert.throws(
        () => importAsRun(bytes, 'model.safetensors', { name: 'x' }),
        (e: unknown) => e instanceof EngineError && e.code === 'bad-checkpoint' && /^model\.safetensors/.test(e.message) && message.test(e.message),
      );
    });
  }

  it('a header without __metadata__ (as safetensors.torch.save_file writes it) and float32 tensors import', () => {
    const { __metadata__: _, ...plain } = readHeader(encodeSafetensors(goodTensors(), {}, 'F32')).json;
    const bytes = withHeader(encodeSafetensors(goodTensors(), {}, 'F32'), () => plain);
    assert.equal(Object.keys(decodeSafetensors(bytes).metadata).length, 0);
    const m = inferStateDict(bytes, 'plain.safetensors');
    assert.equal(m.spec.cell, 'lstm');
    assert.deepEqual([...m.weights.get('weight_hh_l0')!], [...goodTensors()[1].data].map(Math.fround));
  });

  it('the good file imports (the cases above differ from it in one thing each)', () => {
    const run = importAsRun(good, 'model.safetensors', { name: 'x' });
    assert.equal(run.config.cell, 'lstm');
    assert.equal(run.config.task, 'charlm');
    assert.equal(run.description, 'LSTM 1x2, input 3, head 3 (character model, vocabulary 3)');
  });

  it('3,000 random corruptions (byte flips, truncations, JSON punctuation): each imports or is an EngineError, never a crash', () => {
    let seed = 12345;
    const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
    const outcomes = { imported: 0, refused: 0 };
    for (let i = 0; i < 3000; i++) {
      let b = Uint8Array.from(good);
      const kind = i % 3;
      if (kind === 0) for (let j = 0; j < 1 + rnd() * 4; j++) b[Math.floor(rnd() * Math.min(b.length, 400))] = Math.floor(rnd() * 256);
      else if (kind === 1) b = b.subarray(0, Math.floor(rnd() * b.length));
      else b[8 + Math.floor(rnd() * 300)] = '0123456789[]{},:"-.e'.charCodeAt(Math.floor(rnd() * 20));
      try {
        importAsRun(b, 'fuzz.safetensors', { name: 'x' });
        outcomes.imported++;
      } catch (e) {
        if (!(e instanceof EngineError)) throw new Error(`corruption ${i} (kind ${kind}) crashed: ${(e as Error).stack}`);
        assert.match(e.message, /^fuzz\.safetensors/);
        outcomes.refused++;
      }
    }
    assert.ok(outcomes.refused > 2000, JSON.stringify(outcomes));
  });

  it('rnn-lab import: exit 2, one line on stderr, no run directory and no temporary left, for every bad file', function () {
    if (!existsSync(cli)) this.skip();
    const dir = mkdtempSync(join(tmpdir(), 'rnn-lab-import-'));
    for (const [what, bytes] of cases) {
      const file = join(dir, 'bad.safetensors');
      writeFileSync(file, bytes);
      const r = spawnSync(process.execPath, [cli, 'import', file, '--out', join(dir, 'run')], { encoding: 'utf8' });
      assert.equal(r.status, 2, `${what}: exit ${r.status}, stderr ${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').length, 1, `${what}: ${r.stderr}`);
      assert.match(r.stderr, /^rnn-lab: .*bad\.safetensors/);
      assert.deepEqual(readdirSync(dir), ['bad.safetensors'], `${what} left files behind`);
    }
    // And the good one creates the run whole; a second import to the same place is refused.
    writeFileSync(join(dir, 'good.safetensors'), good);
    const ok = spawnSync(process.execPath, [cli, 'import', join(dir, 'good.safetensors'), '--out', join(dir, 'run')], { encoding: 'utf8' });
    assert.equal(ok.status, 0, ok.stderr);
    assert.deepEqual(readdirSync(join(dir, 'run')).sort(), ['checkpoint.safetensors', 'config.json', 'diagnostics.jsonl', 'import.json', 'summary.json']);
    const again = spawnSync(process.execPath, [cli, 'import', join(dir, 'good.safetensors'), '--out', join(dir, 'run')], { encoding: 'utf8' });
    assert.equal(again.status, 2);
    assert.match(again.stderr, /already holds a run/);
  });

  it('a vocabulary from a text file is its sorted distinct characters; from JSON, the list', () => {
    assert.deepEqual(vocabularyFrom('abcab ', 'v.txt'), [' ', 'a', 'b', 'c']);
    assert.deepEqual(vocabularyFrom('["x","y"]', 'v.json'), ['x', 'y']);
    assert.throws(() => vocabularyFrom('{"x":1}', 'v.json'), /v\.json is not a JSON list of strings/);
  });
});

describe('exact resume', () => {
  /** Runs a session; stops after `stopAfter` steps when given. Returns its records and last checkpoint and resume state. */
  async function session(config: RunConfig, text: string, stopAfter?: number, resume?: { checkpoint: Uint8Array; state: Uint8Array }) {
    const metrics: MetricsRecord[] = [];
    let checkpoint: Uint8Array | undefined;
    let state: Uint8Array | undefined;
    const post = (m: FromWorker) => {
      if (m.type === 'metrics') metrics.push(m.record);
      if (m.type === 'checkpoint') [checkpoint, state] = [m.bytes, m.resumeState];
    };
    const summary = await runSession(
      { runId: 'r', config, dataText: text, resume: resume && { ...resume, where: 'run' }, keepResumable: true },
      post,
      () => stopAfter !== undefined && metrics.length >= stopAfter,
    );
    return { metrics, checkpoint: checkpoint!, state: state!, summary };
  }

  const text = austen.slice(0, 1500); // short: the streams wrap (and the state resets) inside the run
  const csv = readFileSync(join(root, 'data/airpassengers.csv'), 'utf8');
  const cases: [string, Partial<RunConfig>, string][] = [
    ['Adam, 2-layer LSTM with dropout (RNG) and clipping', { cell: 'lstm', layers: 2, dropout: 0.25, optimizer: 'adam', clip: 0.5 }, text],
    ['SGD with momentum, GRU, LR decay', { cell: 'gru', optimizer: 'sgd', momentum: 0.9, lr: 0.05, lrDecay: 0.9, lrDecayEvery: 7 }, text],
    ['RMSProp, vanilla RNN, clipping by value', { cell: 'rnn', optimizer: 'rmsprop', clipMode: 'value', clip: 0.05 }, text],
    ['Adagrad, embedding', { cell: 'lstm', optimizer: 'adagrad', embedding: 6, lr: 0.05 }, text],
    ['forecasting a CSV column', { cell: 'gru', task: 'forecast', columns: ['passengers'], optimizer: 'adam', seqLength: 8 }, csv],
  ];
  for (const [what, over, data] of cases) {
    it(`${what}: 40 steps straight = 20 + stop + resume 20, bit for bit`, async () => {
      const config = validateConfig({ ...DEFAULT_CONFIG, hidden: 12, seqLength: 12, batch: 4, steps: 40, evalEvery: 10, diagEvery: 10, ...over }).config;
      const straight = await session(config, data);
      assert.equal(straight.summary.status, 'finished', straight.summary.message);
      const first = await session(config, data, 20);
      assert.equal(first.summary.status, 'stopped');
      assert.equal(first.metrics.length, 20);
      const second = await session(config, data, undefined, { checkpoint: first.checkpoint, state: first.state });
      assert.equal(second.summary.status, 'finished', second.summary.message);
      const resumed = [...first.metrics, ...second.metrics];
      assert.equal(resumed.length, 40);
      const pick = (m: MetricsRecord) => [m.step, m.loss, m.gradNorm, m.gradNormClipped, m.clipped, m.clipFraction, m.lr, m.seen, m.valLoss];
      assert.deepEqual(resumed.map(pick), straight.metrics.map(pick));
      // Not only equal losses: the final weights and the resume state are the same bytes.
      assert.deepEqual([...second.checkpoint], [...straight.checkpoint]);
      assert.deepEqual([...second.state], [...straight.state]);
      // Resuming from the weights alone (fresh optimizer, RNG, data position and state) is not
      // exact: what the resume file adds is needed, so this test can fail.
      const cold = trainerFor(config, data);
      cold.net.params.data.set(loadCheckpoint(first.checkpoint, 'c').net.params.data);
      const coldLosses = [cold.trainStep().loss, cold.trainStep().loss];
      assert.notDeepEqual(coldLosses, [straight.metrics[20].loss, straight.metrics[21].loss]);
    });
  }

  it('rnn-lab train --resume RUN_DIR: metrics.jsonl and checkpoint equal to an uninterrupted run; records past the checkpoint are dropped', function () {
    if (!existsSync(cli)) this.skip();
    const dir = mkdtempSync(join(tmpdir(), 'rnn-lab-resume-'));
    const data = join(dir, 'text.txt');
    writeFileSync(data, text);
    const args = ['--cell', 'lstm', '--layers', '2', '--dropout', '0.2', '--hidden', '10', '--seq', '10', '--batch', '3', '--eval-every', '10', '--diag-every', '5'];
    const run = (...a: string[]) => spawnSync(process.execPath, [cli, ...a], { encoding: 'utf8', cwd: dir });
    assert.equal(run('train', data, ...args, '--steps', '30', '--out', 'straight').status, 0);
    // Split at a validation step: a run's last step is always validated.
    assert.equal(run('train', data, ...args, '--steps', '20', '--out', 'split').status, 0);
    const lines = (d: string, f: string) => readFileSync(join(dir, d, f), 'utf8').trim().split('\n');
    // As if the process died after step 22 with its last checkpoint at step 20.
    const cut = [...lines('split', 'metrics.jsonl'), ...lines('straight', 'metrics.jsonl').slice(20, 22)];
    // ...and written in chunks, as the extension writes a long run (metrics.jsonl, metrics.2.jsonl,
    // ...), the last one ending in a record cut short by the closed window.
    writeFileSync(join(dir, 'split', 'metrics.jsonl'), cut.slice(0, 12).join('\n') + '\n');
    writeFileSync(join(dir, 'split', 'metrics.2.jsonl'), cut.slice(12, 20).join('\n') + '\n');
    writeFileSync(join(dir, 'split', 'metrics.3.jsonl'), cut.slice(20).join('\n') + '\n{"type":"metr');
    const report = run('report', 'split');
    assert.equal(report.status, 0, report.stderr);
    assert.match(report.stdout, /steps 22, final loss/, 'the report reads both chunks');
    const r = run('train', '--resume', 'split', '--steps', '30');
    assert.equal(r.status, 0, r.stderr);
    // The chunk wholly past the checkpoint is gone; training continued in the one before it.
    assert.ok(!existsSync(join(dir, 'split', 'metrics.3.jsonl')));
    assert.equal(lines('split', 'metrics.jsonl').length, 12, 'the first chunk is left as it was');
    assert.deepEqual(lines('split', 'metrics.2.jsonl').map((l) => (JSON.parse(l) as MetricsRecord).step), Array.from({ length: 18 }, (_, i) => 13 + i));
    const all = (d: string) => [...lines(d, 'metrics.jsonl'), ...(existsSync(join(dir, d, 'metrics.2.jsonl')) ? lines(d, 'metrics.2.jsonl') : [])];
    const losses = (d: string) => all(d).map((l) => { const m = JSON.parse(l) as MetricsRecord; return [m.step, m.loss, m.gradNorm, m.valLoss]; });
    assert.deepEqual(losses('split'), losses('straight'));
    assert.deepEqual(readFileSync(join(dir, 'split', 'checkpoint.safetensors')), readFileSync(join(dir, 'straight', 'checkpoint.safetensors')));
    const again = run('train', '--resume', 'split');
    assert.equal(again.status, 2);
    assert.equal(again.stderr.trim(), 'rnn-lab: split is already at step 30 of 30. Pass --steps N with N above 30 to train further.');
  });

  it('refuses a changed data file, a state of another step, and a state for another optimizer', async () => {
    const config = validateConfig({ ...DEFAULT_CONFIG, hidden: 6, seqLength: 8, batch: 2, steps: 10, cell: 'gru' }).config;
    const a = await session(config, text, 4);
    const b = await session(config, text, 6);
    const fail = async (cfg: RunConfig, data: string, resume: { checkpoint: Uint8Array; state: Uint8Array }) => {
      const { summary } = await session(cfg, data, undefined, resume);
      assert.equal(summary.status, 'failed');
      return summary.message ?? '';
    };
    assert.match(await fail(config, text.slice(1), { checkpoint: a.checkpoint, state: a.state }), /the data file changed since the run was saved/);
    // The resume state holds the weights (format /2): beside a checkpoint of another step it resumes
    // from its own step. A state of the older format (no weights) must match the checkpoint's step.
    const resumed = await session(config, text, undefined, { checkpoint: a.checkpoint, state: b.state });
    assert.equal(resumed.summary.status, 'finished');
    assert.equal(resumed.metrics[0].step, 7);
    const v2 = decodeSafetensors(b.state);
    const v1Tensors: NamedTensor[] = [...v2.tensors].filter(([n]) => !n.startsWith('model.')).map(([name, t]) => ({ name, shape: t.shape, data: t.data }));
    const v1 = encodeSafetensors(v1Tensors, { ...v2.metadata, format: 'rnn-lab-resume/1' });
    assert.match(await fail(config, text, { checkpoint: a.checkpoint, state: v1 }), /resume\.safetensors is of step 6, the checkpoint of step 4/);
    assert.equal((await session(config, text, undefined, { checkpoint: b.checkpoint, state: v1 })).summary.status, 'finished', 'an older run (format /1 beside its checkpoint) still resumes');
    assert.match(await fail({ ...config, optimizer: 'sgd' }, text, { checkpoint: a.checkpoint, state: a.state }), /the optimizer state is for adam, the run uses sgd/);
  });

  it('the checkpoint itself stays a plain state_dict (no optimizer tensors) that encodeCheckpoint reproduces', () => {
    const t = trainerFor({ cell: 'lstm', hidden: 4, seqLength: 5, batch: 2 });
    const names = [...decodeSafetensors(checkpointBytes(t)).tensors.keys()];
    assert.ok(names.every((n) => /^(weight|bias)_(ih|hh)_l\d+$|^head\.(weight|bias)$/.test(n)), names.join());
    assert.deepEqual([...checkpointBytes(t)], [...encodeCheckpoint(t.net, t.config, t.dataset, 0, { rng: JSON.stringify(t.rng.getState()) })]);
  });
});

describe('rnn-lab: the complete command line', () => {
  const run = (...a: string[]) => spawnSync(process.execPath, [cli, ...a], { encoding: 'utf8' });
  it('every command has --help (exit 0, its usage on stdout)', function () {
    if (!existsSync(cli)) this.skip();
    for (const cmd of ['train', 'sample', 'report', 'oracle', 'export', 'import', 'bench', 'demo']) {
      const r = run(cmd, '--help');
      assert.equal(r.status, 0, `${cmd}: ${r.stderr}`);
      assert.ok(r.stdout.startsWith(`rnn-lab ${cmd}`), `${cmd}: ${r.stdout}`);
    }
    const all = run('--help');
    assert.equal(all.status, 0);
    for (const cmd of ['train', 'sample', 'report', 'oracle', 'export', 'import', 'bench', 'demo']) assert.match(all.stdout, new RegExp(`rnn-lab ${cmd}`));
  });
  it('bench --quick --config b --json: one config, a figure from every engine of ours (both all-cores transports) and a figure or a reason from every peer', function () {
    if (!existsSync(cli)) this.skip();
    this.timeout(300_000);
    // What the figures are is the bench's business (npm run bench); here only that each engine ran.
    const r = spawnSync(process.execPath, [cli, 'bench', '--quick', '--config', 'b', '--json'], { encoding: 'utf8', timeout: 280_000 });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { configs: { name: string; chars_per_s: Record<string, number | null>; skipped?: Record<string, string>; pct_of_ceiling: { medians: number } }[]; seq2seq?: unknown };
    assert.deepEqual(out.configs.map((c) => c.name), ['b']);
    assert.equal(out.seq2seq, undefined, '--config leaves the seq2seq config out');
    const [b] = out.configs;
    for (const e of ['rnn-lab', 'rnn-lab-all-cores', 'rnn-lab-all-cores-messages']) assert.ok((b.chars_per_s[e] ?? 0) > 0, `${e}: ${b.chars_per_s[e]}`);
    for (const e of ['tfjs-cpu', 'tfjs-wasm', 'torch-cpu', 'torch-cpu-all-cores']) {
      assert.ok((b.chars_per_s[e] ?? 0) > 0 || typeof b.skipped?.[e] === 'string', `${e}: neither a figure nor a reason`);
    }
    assert.ok(b.pct_of_ceiling.medians > 0);
  });

  it('usage errors: exit 2 and one line on stderr saying what is wrong', function () {
    if (!existsSync(cli)) this.skip();
    const cases: [string[], RegExp][] = [
      [[], /no command given/],
      [['frob'], /unknown command "frob"/],
      [['train'], /train needs exactly one data FILE/],
      [['train', 'a.txt', '--bogus', '3'], /unknown option --bogus/],
      [['train', '--resume', 'r', '--lr', '3'], /only --steps and --workers may change, not --lr/],
      [['sample'], /sample needs exactly one RUN_DIR/],
      [['sample', 'r', '--bogus', '1'], /sample has no option --bogus/],
      [['report', 'a', 'b'], /report needs exactly one RUN_DIR, got 2/],
      [['oracle'], /oracle needs at least one fixture file/],
      [['export'], /export needs exactly one RUN_DIR/],
      [['export', 'r', '--dtype', 'f16'], /--dtype must be f64 or f32, got "f16"/],
      [['import'], /import needs exactly one FILE\.safetensors/],
      [['import', 'x.safetensors', '--gru-variant', 'sideways'], /--gru-variant must be reset_after or reset_before/],
      [['bench', '--frob'], /bench takes only --quick, --config and --json/],
      [['bench', '--config'], /bench --config needs config names: a, b, c, d, rnn/],
      [['bench', '--config', 'b,e'], /bench --config: no config e; the configs are a, b, c, d, rnn/],
      [['bench', '--config', 'b', '--seq2seq'], /bench --config picks among configs/],
      [['demo', 'extra'], /demo takes no arguments/],
      [['sample', 'r', '--length'], /--length needs a value/],
    ];
    for (const [args, message] of cases) {
      const r = run(...args);
      assert.equal(r.status, 2, `${args.join(' ')}: exit ${r.status}`);
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 1, `${args.join(' ')}: ${r.stderr}`);
      assert.match(lines[0], /^rnn-lab: /);
      assert.match(lines[0], message);
      assert.equal(r.stdout, '');
    }
  });
});
