/**
 * Checks the engine against an oracle fixture (../shared/oracle format: neutral per-gate weights
 * in Keras row-vector layout, PyTorch float64 autograd reference). Loads the weights into a
 * Network through the PyTorch mapping, runs forward, loss and BPTT, and returns for every
 * quantity the error max|ours - ref| / max(max|ref|, 1e-12). Works for any sizes and depths.
 */
import { Network, type ModelSpec } from './network';
import { EngineError } from './errors';
import type { Vec } from './linalg';
import type { Precision } from './params';
import { checkSeq2SeqFixture } from './oracleSeq2seq';
import { describeValue } from './json';

type Nested = number | Nested[];

export interface OracleFixture {
  name: string;
  cell: 'rnn' | 'lstm' | 'gru_ra0' | 'gru_ra1';
  dims: { batch: number; time: number; input_size: number; hidden_size: number; layers: number; vocab?: number };
  loss_type: 'sumsq' | 'ce';
  weights: Record<string, Nested>[];
  dense?: { W_y: Nested; b_y: Nested };
  targets?: Nested;
  inputs: Nested;
  initial_state: Record<string, Nested>[];
  float64: OracleBlock;
}

interface OracleBlock {
  loss: number;
  outputs: { per_layer: Record<string, Nested>[]; logits?: Nested };
  gradients: {
    weights: Record<string, Nested>[];
    dense?: { W_y: Nested; b_y: Nested };
    inputs: Nested;
    initial_state: Record<string, Nested>[];
  };
}

export interface OracleQuantity {
  name: string;
  error: number;
}

export interface OracleResult {
  fixture: string;
  quantities: OracleQuantity[];
  maxError: number;
}

/** Neutral gate suffixes in our (PyTorch) gate order. */
const NEUTRAL_GATES: Record<OracleFixture['cell'], string[]> = {
  rnn: ['h'],
  lstm: ['i', 'f', 'g', 'o'],
  gru_ra0: ['r', 'z', 'h'],
  gru_ra1: ['r', 'z', 'h'],
};

function flat(x: Nested | undefined, what: string): number[] {
  if (x === undefined) throw new EngineError('bad-oracle', `fixture is missing ${what}`, 'Check that the file follows the oracle format.');
  const out: number[] = [];
  const walk = (v: Nested) => {
    if (Array.isArray(v)) v.forEach(walk);
    else out.push(v);
  };
  walk(x);
  return out;
}

/** [B][T][...] batch-major -> (T,B,...) time-major. */
function toTimeMajor(v: number[], B: number, T: number, D: number): Float64Array {
  const out = new Float64Array(B * T * D);
  for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) for (let k = 0; k < D; k++) out[(t * B + b) * D + k] = v[(b * T + t) * D + k];
  return out;
}

export function specForFixture(f: OracleFixture): ModelSpec {
  const d = f.dims;
  return {
    cell: f.cell === 'rnn' ? 'rnn' : f.cell === 'lstm' ? 'lstm' : 'gru',
    gruVariant: f.cell === 'gru_ra0' ? 'reset_before' : 'reset_after',
    rnnActivation: 'tanh',
    layers: d.layers,
    hidden: d.hidden_size,
    input: { kind: 'dense', size: d.input_size },
    head: f.loss_type === 'ce' ? { kind: 'softmax', classes: d.vocab ?? flat(f.dense?.b_y, 'dense.b_y').length } : { kind: 'none' },
    dropout: 0,
  };
}

/** Loads the fixture's neutral weights into the network's PyTorch-layout tensors. */
export function loadFixtureWeights(net: Network, f: OracleFixture): void {
  const H = f.dims.hidden_size;
  const gates = NEUTRAL_GATES[f.cell];
  const p = net.params;
  for (let l = 0; l < f.dims.layers; l++) {
    const w = f.weights[l];
    const I = l === 0 ? f.dims.input_size : H;
    const wih = p.view(`weight_ih_l${l}`);
    const whh = p.view(`weight_hh_l${l}`);
    const bih = p.view(`bias_ih_l${l}`);
    const bhh = p.view(`bias_hh_l${l}`);
    gates.forEach((g, gi) => {
      // W_x<g> is [I][H] (row = input feature); PyTorch's row block is its transpose.
      const wx = flat(w[`W_x${g}`], `weights[${l}].W_x${g}`);
      const wh = flat(w[`W_h${g}`], `weights[${l}].W_h${g}`);
      for (let j = 0; j < H; j++) {
        for (let k = 0; k < I; k++) wih[(gi * H + j) * I + k] = wx[k * H + j];
        for (let k = 0; k < H; k++) whh[(gi * H + j) * H + k] = wh[k * H + j];
      }
      if (w[`b_${g}`] !== undefined) {
        bih.set(flat(w[`b_${g}`], `b_${g}`), gi * H);
      } else {
        bih.set(flat(w[`b_x${g}`], `weights[${l}].b_x${g}`), gi * H);
        bhh.set(flat(w[`b_h${g}`], `weights[${l}].b_h${g}`), gi * H);
      }
    });
  }
  if (f.loss_type === 'ce') {
    const V = net.outputSize;
    const wy = flat(f.dense?.W_y, 'dense.W_y'); // [H][V]
    const hw = p.view('head.weight'); // [V][H]
    for (let v = 0; v < V; v++) for (let j = 0; j < H; j++) hw[v * H + j] = wy[j * V + v];
    p.view('head.bias').set(flat(f.dense?.b_y, 'dense.b_y'));
  }
}

/** Largest fixture the checker runs: each dim, and B x T x (I + H + V) values per quantity. */
const MAX_FIXTURE_DIM = 4096;
const MAX_FIXTURE_VALUES = 10_000_000;

/**
 * Checks a parsed fixture against the format (README of the oracle folder) before anything reads
 * it: every array has exactly the shape its dims give and holds finite numbers, so checkFixture
 * never indexes past an array, mixes undefined into a comparison or allocates from a forged size.
 * Every refusal names the file and the field.
 */
export function validateFixture(raw: unknown, where: string): OracleFixture {
  const fail = (what: string): never => {
    throw new EngineError('bad-oracle', `${where}: ${what}`, 'Pass a fixture in the oracle format (see the README of the oracle folder).');
  };
  const isObj = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);
  if (!isObj(raw)) return fail('not a JSON object');
  const f = raw;
  if (typeof f.cell !== 'string' || !Object.hasOwn(NEUTRAL_GATES, f.cell)) return fail(`"cell" must be one of ${Object.keys(NEUTRAL_GATES).join(', ')}, got ${describeValue(f.cell)}`);
  if (f.loss_type !== 'sumsq' && f.loss_type !== 'ce') return fail(`"loss_type" must be sumsq or ce, got ${describeValue(f.loss_type)}`);
  if (f.name !== undefined && typeof f.name !== 'string') return fail(`"name" must be a string, got ${describeValue(f.name)}`);
  if (!isObj(f.dims)) return fail('"dims" is missing or not an object');
  const dim = (k: string, optional = false): number => {
    const v = (f.dims as Record<string, unknown>)[k];
    if (v === undefined && optional) return 0;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > MAX_FIXTURE_DIM) return fail(`"dims.${k}" must be a whole number from 1 to ${MAX_FIXTURE_DIM}, got ${describeValue(v)}`);
    return v;
  };
  const B = dim('batch'), T = dim('time'), I = dim('input_size'), H = dim('hidden_size'), L = dim('layers');
  const ce = f.loss_type === 'ce';
  let V = dim('vocab', true);
  if (ce && V === 0) {
    const by = isObj(f.dense) ? f.dense.b_y : undefined;
    if (!Array.isArray(by) || by.length < 1 || by.length > MAX_FIXTURE_DIM) return fail('"dense.b_y" must be a list of 1 to 4096 numbers (it gives the vocabulary size when dims.vocab is absent)');
    V = by.length;
  }
  if (L > 8) return fail(`"dims.layers" must be at most 8, got ${L}`);
  const G = NEUTRAL_GATES[f.cell as OracleFixture['cell']].length;
  if (B * T * (I + H + V) > MAX_FIXTURE_VALUES || L * G * H * (Math.max(I, H) + H) > MAX_FIXTURE_VALUES || H * V > MAX_FIXTURE_VALUES) {
    return fail(`dims ${B}x${T}, input ${I}, hidden ${H}, vocab ${V}, ${L} layers are over the ${MAX_FIXTURE_VALUES.toLocaleString('en-US')}-value limit of a fixture`);
  }
  /** Walks `v` level by level (no recursion) and checks it is a nested list of exactly `shape`. */
  const shaped = (v: unknown, shape: number[], what: string, integersBelow?: number): void => {
    let level: unknown[] = [v];
    for (let d = 0; d < shape.length; d++) {
      const next: unknown[] = [];
      for (const x of level) {
        if (!Array.isArray(x) || x.length !== shape[d]) {
          fail(`"${what}" must have shape [${shape.join('][')}]${x === undefined ? ' (it is missing)' : `; at depth ${d} found ${Array.isArray(x) ? `${x.length} items` : describeValue(x)}`}`);
        }
        for (const y of x as unknown[]) next.push(y);
      }
      level = next;
    }
    for (const x of level) {
      if (typeof x !== 'number' || !Number.isFinite(x)) fail(`"${what}" holds ${describeValue(x)} where a finite number belongs`);
      if (integersBelow !== undefined && (!Number.isInteger(x) || (x as number) < 0 || (x as number) >= integersBelow)) fail(`"${what}" holds ${x}; targets are class ids from 0 to ${integersBelow - 1}`);
    }
  };
  const gates = NEUTRAL_GATES[f.cell as OracleFixture['cell']];
  const layerWeights = (list: unknown, what: string): void => {
    if (!Array.isArray(list) || list.length !== L) fail(`"${what}" must be a list of ${L} layer objects`);
    (list as unknown[]).forEach((w, l) => {
      if (!isObj(w)) fail(`"${what}[${l}]" is not an object`);
      const o = w as Record<string, unknown>;
      const In = l === 0 ? I : H;
      for (const g of gates) {
        shaped(o[`W_x${g}`], [In, H], `${what}[${l}].W_x${g}`);
        shaped(o[`W_h${g}`], [H, H], `${what}[${l}].W_h${g}`);
        if (o[`b_${g}`] !== undefined) shaped(o[`b_${g}`], [H], `${what}[${l}].b_${g}`);
        else {
          shaped(o[`b_x${g}`], [H], `${what}[${l}].b_x${g}`);
          shaped(o[`b_h${g}`], [H], `${what}[${l}].b_h${g}`);
        }
      }
    });
  };
  const states = (list: unknown, what: string): void => {
    if (!Array.isArray(list) || list.length !== L) fail(`"${what}" must be a list of ${L} layer objects`);
    (list as unknown[]).forEach((s, l) => {
      if (!isObj(s)) fail(`"${what}[${l}]" is not an object`);
      shaped((s as Record<string, unknown>).h, [B, H], `${what}[${l}].h`);
      if (f.cell === 'lstm') shaped((s as Record<string, unknown>).c, [B, H], `${what}[${l}].c`);
    });
  };
  const dense = (d: unknown, what: string): void => {
    if (!isObj(d)) fail(`"${what}" is missing or not an object (a ce fixture needs W_y and b_y)`);
    shaped((d as Record<string, unknown>).W_y, [H, V], `${what}.W_y`);
    shaped((d as Record<string, unknown>).b_y, [V], `${what}.b_y`);
  };
  layerWeights(f.weights, 'weights');
  states(f.initial_state, 'initial_state');
  shaped(f.inputs, [B, T, I], 'inputs');
  if (ce) {
    dense(f.dense, 'dense');
    shaped(f.targets, [B, T], 'targets', V);
  }
  const ref = f.float64;
  if (!isObj(ref)) return fail('"float64" (the reference block) is missing or not an object');
  if (typeof ref.loss !== 'number' || !Number.isFinite(ref.loss)) fail(`"float64.loss" must be a finite number, got ${describeValue(ref.loss)}`);
  if (!isObj(ref.outputs)) return fail('"float64.outputs" is missing or not an object');
  const per = ref.outputs.per_layer;
  if (!Array.isArray(per) || per.length !== L) fail(`"float64.outputs.per_layer" must be a list of ${L} layer objects`);
  (per as unknown[]).forEach((o, l) => {
    if (!isObj(o)) fail(`"float64.outputs.per_layer[${l}]" is not an object`);
    const r = o as Record<string, unknown>;
    shaped(r.h_seq, [B, T, H], `float64.outputs.per_layer[${l}].h_seq`);
    shaped(r.h_final, [B, H], `float64.outputs.per_layer[${l}].h_final`);
    if (f.cell === 'lstm') shaped(r.c_final, [B, H], `float64.outputs.per_layer[${l}].c_final`);
  });
  if (ce && ref.outputs.logits !== undefined) shaped(ref.outputs.logits, [B, T, V], 'float64.outputs.logits');
  if (!isObj(ref.gradients)) return fail('"float64.gradients" is missing or not an object');
  layerWeights(ref.gradients.weights, 'float64.gradients.weights');
  states(ref.gradients.initial_state, 'float64.gradients.initial_state');
  shaped(ref.gradients.inputs, [B, T, I], 'float64.gradients.inputs');
  if (ce) dense(ref.gradients.dense, 'float64.gradients.dense');
  return { ...(f as unknown as OracleFixture), name: typeof f.name === 'string' ? f.name : where, dims: { batch: B, time: T, input_size: I, hidden_size: H, layers: L, vocab: ce ? V : undefined } };
}

/**
 * Runs the fixture's model in `precision` and compares with its float64 reference. float64 is the
 * exact path (errors near 1e-15); float32 runs the WebAssembly SIMD kernels where available, so its
 * errors are float32 rounding through the recurrence (the tests hold it to 2e-5 relative).
 */
export function checkFixture(f: OracleFixture, precision: Precision = 'float64'): OracleResult {
  if (!f || typeof f !== 'object' || !f.dims || !Object.hasOwn(NEUTRAL_GATES, f.cell)) {
    throw new EngineError('bad-oracle', 'not an oracle fixture (no dims or unknown cell)', 'Pass a file in the ../shared/oracle format.');
  }
  const { batch: B, time: T, input_size: I, hidden_size: H, layers: L } = f.dims;
  const net = new Network(specForFixture(f), precision);
  loadFixtureWeights(net, f);
  const state = net.newState(B);
  for (let l = 0; l < L; l++) {
    state.h[l].set(flat(f.initial_state[l].h, `initial_state[${l}].h`));
    if (f.cell === 'lstm') state.c[l].set(flat(f.initial_state[l].c, `initial_state[${l}].c`));
  }
  net.forward(toTimeMajor(flat(f.inputs, 'inputs'), B, T, I), T, B, state);

  const ref = f.float64;
  const quantities: OracleQuantity[] = [];
  const compare = (name: string, ours: ArrayLike<number>, theirs: number[]) => {
    if (ours.length !== theirs.length) {
      throw new EngineError('bad-oracle', `${name}: fixture has ${theirs.length} values, the model ${ours.length}`, 'Check the fixture dims.');
    }
    let diff = 0;
    let scale = 0;
    for (let i = 0; i < theirs.length; i++) {
      diff = Math.max(diff, Math.abs(ours[i] - theirs[i]));
      scale = Math.max(scale, Math.abs(theirs[i]));
    }
    quantities.push({ name, error: diff / Math.max(scale, 1e-12) });
  };
  const batchMajor = (v: Vec, D: number) => {
    const out = new Float64Array(v.length);
    for (let t = 0; t < T; t++) for (let b = 0; b < B; b++) for (let k = 0; k < D; k++) out[(b * T + t) * D + k] = v[(t * B + b) * D + k];
    return out;
  };

  for (let l = 0; l < L; l++) {
    const o = ref.outputs.per_layer[l];
    compare(`outputs.per_layer[${l}].h_seq`, batchMajor(net.layerOutputs(l), H), flat(o.h_seq, 'h_seq'));
    compare(`outputs.per_layer[${l}].h_final`, state.h[l], flat(o.h_final, 'h_final'));
    if (f.cell === 'lstm') compare(`outputs.per_layer[${l}].c_final`, state.c[l], flat(o.c_final, 'c_final'));
  }

  let loss: number;
  if (f.loss_type === 'ce') {
    const targets = flat(f.targets, 'targets');
    const tg = new Int32Array(T * B);
    for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) tg[t * B + b] = targets[b * T + t];
    // Logits before the head turns them into probabilities: log p is logits up to a per-row constant,
    // so recover them from the weights directly.
    const V = net.outputSize;
    const top = net.topOutputs();
    const hw = net.params.view('head.weight');
    const hb = net.params.view('head.bias');
    const logits = new Float64Array(T * B * V);
    for (let r = 0; r < T * B; r++) {
      for (let v = 0; v < V; v++) {
        let s = hb[v];
        for (let j = 0; j < H; j++) s += top[r * H + j] * hw[v * H + j];
        logits[r * V + v] = s;
      }
    }
    if (ref.outputs.logits) compare('outputs.logits', batchMajor(logits, V), flat(ref.outputs.logits, 'logits'));
    loss = net.head(tg, { backward: true });
  } else {
    const top = net.topOutputs();
    loss = 0;
    const d = new Float64Array(top.length);
    for (let i = 0; i < top.length; i++) {
      loss += top[i] * top[i];
      d[i] = 2 * top[i];
    }
    net.setTopGradient(d);
  }
  compare('loss', [loss], [ref.loss]);
  net.backward({ inputGrad: true });

  const gates = NEUTRAL_GATES[f.cell];
  const p = net.params;
  for (let l = 0; l < L; l++) {
    const I_ = l === 0 ? I : H;
    const gw = ref.gradients.weights[l];
    const dwih = p.gradView(`weight_ih_l${l}`);
    const dwhh = p.gradView(`weight_hh_l${l}`);
    const dbih = p.gradView(`bias_ih_l${l}`);
    const dbhh = p.gradView(`bias_hh_l${l}`);
    gates.forEach((g, gi) => {
      const ox = new Float64Array(I_ * H);
      const oh = new Float64Array(H * H);
      for (let j = 0; j < H; j++) {
        for (let k = 0; k < I_; k++) ox[k * H + j] = dwih[(gi * H + j) * I_ + k];
        for (let k = 0; k < H; k++) oh[k * H + j] = dwhh[(gi * H + j) * H + k];
      }
      compare(`gradients.weights[${l}].W_x${g}`, ox, flat(gw[`W_x${g}`], `W_x${g}`));
      compare(`gradients.weights[${l}].W_h${g}`, oh, flat(gw[`W_h${g}`], `W_h${g}`));
      if (gw[`b_${g}`] !== undefined) {
        compare(`gradients.weights[${l}].b_${g}`, dbih.subarray(gi * H, gi * H + H), flat(gw[`b_${g}`], `b_${g}`));
      } else {
        compare(`gradients.weights[${l}].b_x${g}`, dbih.subarray(gi * H, gi * H + H), flat(gw[`b_x${g}`], `b_x${g}`));
        compare(`gradients.weights[${l}].b_h${g}`, dbhh.subarray(gi * H, gi * H + H), flat(gw[`b_h${g}`], `b_h${g}`));
      }
    });
    compare(`gradients.initial_state[${l}].h`, net.dState0.h[l], flat(ref.gradients.initial_state[l].h, 'dh0'));
    if (f.cell === 'lstm') compare(`gradients.initial_state[${l}].c`, net.dState0.c[l], flat(ref.gradients.initial_state[l].c, 'dc0'));
  }
  compare('gradients.inputs', batchMajor(net.dInput, I), flat(ref.gradients.inputs, 'gradients.inputs'));
  if (f.loss_type === 'ce') {
    const V = net.outputSize;
    const dhw = p.gradView('head.weight');
    const ow = new Float64Array(H * V);
    for (let v = 0; v < V; v++) for (let j = 0; j < H; j++) ow[j * V + v] = dhw[v * H + j];
    compare('gradients.dense.W_y', ow, flat(ref.gradients.dense?.W_y, 'gradients.dense.W_y'));
    compare('gradients.dense.b_y', p.gradView('head.bias'), flat(ref.gradients.dense?.b_y, 'gradients.dense.b_y'));
  }
  return { fixture: f.name, quantities, maxError: Math.max(...quantities.map((q) => q.error)) };
}

/** A seq2seq oracle file ("rnn-lab-seq2seq-oracle/1", ./oracleSeq2seq.ts) is told by its `format` field. */
export function isSeq2SeqOracle(json: unknown): boolean {
  return !!json && typeof json === 'object' && 'format' in json;
}

/**
 * Any oracle file, in `precision`: the seq2seq format by its `format` field, else the
 * language-model format above. float64 is held to 1e-9, float32 (the WebAssembly SIMD path) to 2e-5.
 */
export function checkOracleFile(json: unknown, precision: Precision = 'float64'): OracleResult & { quantities: (OracleQuantity & { absError?: number })[] } {
  if (isSeq2SeqOracle(json)) return checkSeq2SeqFixture(json as object, precision);
  return checkFixture(json as OracleFixture, precision);
}
