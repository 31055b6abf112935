/**
 * Checks the seq2seq model against a fixture of the format "rnn-lab-seq2seq-oracle/1"
 * (../shared/oracle-s2s/README.md: PyTorch float64 module, state_dict names, batch-major tensors).
 * Every dimension comes from the file: the config gives the model, the input arrays give B, S and
 * T. Compares the loss, logits, attention, encoder outputs, decoder outputs, context, h~, encoder
 * final state and the gradient of every parameter, each as max|ours - ref| / max(max|ref|, 1e-12)
 * (and the absolute max, printed beside it). Values at padded positions are compared as 0, as
 * the fixtures store them. A malformed file is one EngineError('bad-oracle') naming the field.
 */
import { EngineError } from './errors';
import type { Vec } from './linalg';
import type { Precision } from './params';
import { ATTENTION_KINDS, Seq2Seq, type AttentionKind, type Seq2SeqBatch, type Seq2SeqSpec } from './models/seq2seq';

export const SEQ2SEQ_ORACLE_FORMAT = 'rnn-lab-seq2seq-oracle/1';

export interface Seq2SeqOracleQuantity {
  name: string;
  /** max|ours - ref| / max(max|ref|, 1e-12) */
  error: number;
  /** max|ours - ref| */
  absError: number;
}

export interface Seq2SeqOracleResult {
  fixture: string;
  quantities: Seq2SeqOracleQuantity[];
  maxError: number;
}

type Json = unknown;

function bad(what: string): never {
  throw new EngineError('bad-oracle', `seq2seq fixture: ${what}`, `Check the file against the "${SEQ2SEQ_ORACLE_FORMAT}" format (../shared/oracle-s2s/README.md).`);
}

function obj(x: Json, where: string): Record<string, Json> {
  if (!x || typeof x !== 'object' || Array.isArray(x)) bad(`${where} is missing or not an object`);
  return x as Record<string, Json>;
}

function int(x: Json, where: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof x !== 'number' || !Number.isInteger(x) || x < min || x > max) bad(`${where} must be an integer in ${min}..${max === Number.MAX_SAFE_INTEGER ? '' : max} (found ${JSON.stringify(x)})`);
  return x;
}

function nums(x: Json, where: string, length: number): number[] {
  if (!Array.isArray(x)) bad(`${where} is missing or not an array`);
  if (x.length !== length) bad(`${where} has ${x.length} values, expected ${length}`);
  for (let i = 0; i < x.length; i++) if (typeof x[i] !== 'number' || !Number.isFinite(x[i])) bad(`${where}[${i}] is not a finite number`);
  return x as number[];
}

/** A {shape, data} tensor whose shape must equal `shape`. */
function tensor(x: Json, where: string, shape: number[]): number[] {
  const t = obj(x, where);
  const s = t.shape;
  if (!Array.isArray(s) || s.length !== shape.length || s.some((v, i) => v !== shape[i])) bad(`${where}.shape is ${JSON.stringify(s)}, expected ${JSON.stringify(shape)}`);
  return nums(t.data, `${where}.data`, shape.reduce((a, b) => a * b, 1));
}

function idRows(x: Json, where: string, B: number, V: number): { rows: number[][]; width: number } {
  if (!Array.isArray(x) || x.length !== B) bad(`${where} must be ${B} rows`);
  const width = Array.isArray(x[0]) ? x[0].length : -1;
  if (width < 1) bad(`${where}[0] is not a non-empty array`);
  x.forEach((row, b) => {
    if (!Array.isArray(row) || row.length !== width) bad(`${where}[${b}] must have ${width} ids like row 0`);
    row.forEach((v: Json, i: number) => int(v, `${where}[${b}][${i}]`, 0, V - 1));
  });
  return { rows: x as number[][], width };
}

export function seq2seqSpecFromConfig(config: Record<string, Json>): Seq2SeqSpec {
  const cell = config.cell;
  if (cell !== 'rnn' && cell !== 'lstm' && cell !== 'gru') bad(`config.cell must be "rnn", "lstm" or "gru" (found ${JSON.stringify(cell)})`);
  const attention = config.attention as AttentionKind;
  if (!ATTENTION_KINDS.includes(attention)) bad(`config.attention must be one of ${ATTENTION_KINDS.join(', ')} (found ${JSON.stringify(config.attention)})`);
  const variant = config.gru_variant ?? 'reset_after';
  if (cell === 'gru' && variant !== 'reset_after' && variant !== 'reset_before') bad(`config.gru_variant must be "reset_after" or "reset_before"`);
  const act = config.rnn_nonlinearity ?? 'tanh';
  if (act !== 'tanh' && act !== 'relu') bad(`config.rnn_nonlinearity must be "tanh" or "relu"`);
  return {
    cell,
    gruVariant: variant as Seq2SeqSpec['gruVariant'],
    rnnActivation: act,
    layers: int(config.layers, 'config.layers', 1, 64),
    hidden: int(config.hidden, 'config.hidden', 1, 4096),
    embed: int(config.embed, 'config.embed', 1, 4096),
    attention,
    attentionSize: attention === 'additive' ? int(config.attention_size, 'config.attention_size', 1, 4096) : 0,
    srcVocab: int(config.V_src, 'config.V_src', 1, 1 << 20),
    tgtVocab: int(config.V_tgt, 'config.V_tgt', 1, 1 << 20),
  };
}

/** Validates the fixture and builds the model with its weights and the batch. */
export function loadSeq2SeqFixture(raw: Json, precision: Precision = 'float64'): { name: string; model: Seq2Seq; batch: Seq2SeqBatch; f: Record<string, Json> } {
  const f = obj(raw, 'the file');
  if (f.format !== SEQ2SEQ_ORACLE_FORMAT) bad(`format is ${JSON.stringify(f.format)}, expected "${SEQ2SEQ_ORACLE_FORMAT}"`);
  const config = obj(f.config, 'config');
  const spec = seq2seqSpecFromConfig(config);
  const B = int(config.batch, 'config.batch', 1, 1 << 16);
  const inputs = obj(f.inputs, 'inputs');
  const src = idRows(inputs.src, 'inputs.src', B, spec.srcVocab);
  const tgtIn = idRows(inputs.tgt_in, 'inputs.tgt_in', B, spec.tgtVocab);
  const tgtOut = idRows(inputs.tgt_out, 'inputs.tgt_out', B, spec.tgtVocab);
  if (tgtOut.width !== tgtIn.width) bad(`inputs.tgt_out is ${tgtOut.width} wide, inputs.tgt_in ${tgtIn.width}`);
  const S = src.width;
  const T = tgtIn.width;
  const srcLengths = nums(inputs.src_lengths, 'inputs.src_lengths', B).map((n, b) => int(n, `inputs.src_lengths[${b}]`, 1, S));
  const tgtLengths = nums(inputs.tgt_lengths, 'inputs.tgt_lengths', B).map((n, b) => int(n, `inputs.tgt_lengths[${b}]`, 1, T));
  const model = new Seq2Seq(spec, undefined, precision);
  const weights = obj(f.weights, 'weights');
  for (const t of model.params.tensors) {
    model.params.view(t.name).set(tensor(weights[t.name], `weights["${t.name}"]`, t.shape));
  }
  for (const name of Object.keys(weights)) if (!model.params.has(name)) bad(`weights["${name}"] is not a parameter of a ${spec.cell} ${spec.attention} model`);
  const batch: Seq2SeqBatch = {
    B, S, T,
    src: Int32Array.from(src.rows.flat()),
    srcLengths: Int32Array.from(srcLengths),
    tgtIn: Int32Array.from(tgtIn.rows.flat()),
    tgtOut: Int32Array.from(tgtOut.rows.flat()),
    tgtLengths: Int32Array.from(tgtLengths),
  };
  return { name: typeof f.name === 'string' ? f.name : '(unnamed)', model, batch, f };
}

/** (T,B,D) time-major -> (B,T,D) batch-major, zero at t >= len[b]. */
function batchMajor(v: ArrayLike<number>, T: number, B: number, D: number, len: ArrayLike<number>): Float64Array {
  const out = new Float64Array(B * T * D);
  for (let b = 0; b < B; b++) for (let t = 0; t < len[b]; t++) for (let k = 0; k < D; k++) out[(b * T + t) * D + k] = v[(t * B + b) * D + k];
  return out;
}

/**
 * float64 is the exact path (the 1e-9 check); float32 runs the model on the WebAssembly SIMD
 * kernels where available, so its errors are float32 rounding (held to 2e-5 relative).
 */
export function checkSeq2SeqFixture(raw: Json, precision: Precision = 'float64'): Seq2SeqOracleResult {
  const { name, model, batch, f } = loadSeq2SeqFixture(raw, precision);
  const { B, S, T } = batch;
  const { hidden: H, tgtVocab: V, layers: L, attention } = model.spec;
  const ref = obj(f.float64, 'float64');
  const quantities: Seq2SeqOracleQuantity[] = [];
  const compare = (qname: string, ours: ArrayLike<number>, theirs: number[]) => {
    let diff = 0;
    let scale = 0;
    for (let i = 0; i < theirs.length; i++) {
      const d = Math.abs(ours[i] - theirs[i]);
      diff = Number.isNaN(d) ? Infinity : Math.max(diff, d);
      scale = Math.max(scale, Math.abs(theirs[i]));
    }
    quantities.push({ name: qname, error: diff / Math.max(scale, 1e-12), absError: diff });
  };
  model.params.zeroGrad();
  const loss = model.forward(batch);
  model.backward();
  if (typeof ref.loss !== 'number') bad('float64.loss is missing');
  compare('loss', [loss], [ref.loss]);
  compare('logits', batchMajor(model.logits, T, B, V, batch.tgtLengths), tensor(ref.logits, 'float64.logits', [B, T, V]));
  compare('encoder_outputs', model.encOut, tensor(ref.encoder_outputs, 'float64.encoder_outputs', [B, S, H]));
  compare('decoder_outputs', batchMajor(model.decoderTop(), T, B, H, batch.tgtLengths), tensor(ref.decoder_outputs, 'float64.decoder_outputs', [B, T, H]));
  if (attention !== 'none') {
    compare('attention', batchMajor(model.att, T, B, S, batch.tgtLengths), tensor(ref.attention, 'float64.attention', [B, T, S]));
    if (ref.context !== undefined) compare('context', batchMajor(model.ctx, T, B, H, batch.tgtLengths), tensor(ref.context, 'float64.context', [B, T, H]));
  }
  if ((attention === 'dot' || attention === 'general') && ref.attentional !== undefined) {
    compare('attentional', batchMajor(model.hTilde, T, B, H, batch.tgtLengths), tensor(ref.attentional, 'float64.attentional', [B, T, H]));
  }
  if (ref.encoder_final !== undefined) {
    const ef = obj(ref.encoder_final, 'float64.encoder_final');
    const stack = (xs: Vec[]) => {
      const out = new Float64Array(L * B * H);
      xs.forEach((x, l) => out.set(x, l * B * H));
      return out;
    };
    compare('encoder_final.h', stack(model.finalH), tensor(ef.h, 'float64.encoder_final.h', [L, B, H]));
    if (model.spec.cell === 'lstm') compare('encoder_final.c', stack(model.finalC), tensor(ef.c, 'float64.encoder_final.c', [L, B, H]));
  }
  const grads = obj(ref.grads, 'float64.grads');
  for (const t of model.params.tensors) {
    compare(`grads["${t.name}"]`, model.params.gradView(t.name), nums(grads[t.name], `float64.grads["${t.name}"]`, t.size));
  }
  return { fixture: name, quantities, maxError: Math.max(...quantities.map((q) => q.error)) };
}
