// Our engine's side of test/torch/check.py. Loads a run's checkpoint and reads B streams of a
// text (stream b starts at character b * (C * T + 1)), in C consecutive chunks of T characters;
// for a forecasting run, of the CSV's columns, normalised with the checkpoint's mean and std.
// Each chunk runs forward (time-major, batch B) from the state the previous chunk left (zero for
// the first: truncated BPTT), through the head (softmax and mean cross-entropy, or linear and mean
// squared error) and backward. Prints the last chunk's loss and every parameter's gradient under
// its PyTorch name, as JSON on stdout. With an optimizer, it then trains on the first chunk for
// `steps` steps (global-norm clipping at `clip`, then the update, as the trainer does) and also
// prints the weights after them.
// Usage: node dist-test/torch/ours.js CHECKPOINT TEXT_FILE T B C [OPTIMIZER STEPS LR CLIP]
//
// A seq2seq checkpoint takes a JSON file of examples instead, [{src: [ids], tgt: [ids]}] (ids
// without BOS / EOS, as the engine's batches take them), and prints the teacher-forced loss of
// that one padded batch and every parameter's gradient under its PyTorch (oracle-s2s) name.
// Usage: node dist-test/torch/ours.js SEQ2SEQ_CHECKPOINT EXAMPLES.json
import { readFileSync } from 'node:fs';
import { loadCheckpoint } from '../../src/engine/checkpoint';
import { isSeq2SeqCheckpoint, loadSeq2SeqCheckpoint } from '../../src/engine/seq2seqCheckpoint';
import { makeBatch } from '../../src/engine/seq2seq/batch';
import { parseCsv, resolveColumns } from '../../src/engine/data';
import { clipGradients, DEFAULT_OPTIMIZER, Optimizer } from '../../src/engine/optim';
import type { OptimizerKind } from '../../src/protocol/config';

const [checkpoint, textFile, length, batch, chunks, optimizer, steps, lr, clip] = process.argv.slice(2);
if (isSeq2SeqCheckpoint(readFileSync(checkpoint), checkpoint)) {
  const { model } = loadSeq2SeqCheckpoint(readFileSync(checkpoint), checkpoint);
  const examples = JSON.parse(readFileSync(textFile, 'utf8')) as { src: number[]; tgt: number[] }[];
  const p = model.params;
  p.zeroGrad();
  const loss = model.forward(makeBatch(examples));
  model.backward();
  const grads = Object.fromEntries(p.tensors.map((t) => [t.name, Array.from(p.grad.subarray(t.offset, t.offset + t.size))]));
  process.stdout.write(JSON.stringify({ loss, grads }));
} else {
const { net, vocab, series } = loadCheckpoint(readFileSync(checkpoint), checkpoint);
const [T, B, C] = [Number(length), Number(batch), Number(chunks)];
const stream = C * T + 1;
const content = readFileSync(textFile, 'utf8');

/** The data as a sequence of positions, each `width` values (a token id, or the normalised columns). */
let width: number;
let at: (position: number) => number[];
let positions: number;
if (vocab) {
  const index = new Map(vocab.map((c, i) => [c, i]));
  const text = Array.from(content);
  width = 1;
  positions = text.length;
  at = (p) => {
    const i = index.get(text[p]);
    if (i === undefined) throw new Error(`${JSON.stringify(text[p])} is not in the run's vocabulary`);
    return [i];
  };
} else if (series) {
  const table = parseCsv(content, textFile);
  const cols = resolveColumns(table.header, series.columns, textFile);
  width = cols.length;
  positions = table.rows.length;
  at = (p) => cols.map((k, c) => (Number(table.rows[p][k]) - series.mean[c]) / series.std[c]);
} else {
  throw new Error(`${checkpoint} is neither a character nor a forecasting model`);
}
if (positions < B * stream) throw new Error(`${textFile} has fewer than ${B * stream} positions`);

/** Chunk c, time-major (T, B, width): inputs and targets. */
function chunk(c: number): { x: Int32Array | Float64Array; y: Int32Array | Float64Array } {
  const x = vocab ? new Int32Array(T * B) : new Float64Array(T * B * width);
  const y = vocab ? new Int32Array(T * B) : new Float64Array(T * B * width);
  for (let t = 0; t < T; t++) {
    for (let b = 0; b < B; b++) {
      x.set(at(b * stream + c * T + t), (t * B + b) * width);
      y.set(at(b * stream + c * T + t + 1), (t * B + b) * width);
    }
  }
  return { x, y };
}

const state = net.newState(B);
/** Loss and gradients of chunk c from the state in `state`, which it then carries forward. */
function lossAndGradients(c: number): number {
  const { x, y } = chunk(c);
  net.params.zeroGrad();
  net.forward(x, T, B, state);
  const loss = net.head(y, { backward: true });
  net.backward();
  return loss;
}
const byName = (buf: ArrayLike<number> & { subarray(a: number, b: number): ArrayLike<number> }) => Object.fromEntries(net.params.tensors.map((t) => [t.name, Array.from(buf.subarray(t.offset, t.offset + t.size))]));

const losses: number[] = [];
for (let c = 0; c < C; c++) losses.push(lossAndGradients(c));
const out: Record<string, unknown> = { losses, loss: losses[C - 1], inputs: Array.from(chunk(0).x), vocab, grads: byName(net.params.grad) };
if (optimizer) {
  const kind = optimizer as OptimizerKind;
  const opt = new Optimizer(net.params.size, { ...DEFAULT_OPTIMIZER, kind, momentum: kind === 'sgd' ? 0.9 : 0 });
  const norms: number[] = [];
  for (let s = 0; s < Number(steps); s++) {
    for (const h of [...state.h, ...state.c]) h.fill(0);
    lossAndGradients(0);
    norms.push(clipGradients(net.params.grad, 'norm', Number(clip)).norm);
    opt.step(net.params.data, net.params.grad, Number(lr));
  }
  out.trained = { norms, weights: byName(net.params.data) };
}
process.stdout.write(JSON.stringify(out));
}
