// Our engine's side of test/torch/check.py. Loads a run's checkpoint and reads B streams of a
// text (stream b starts at character b * (C * T + 1)), in C consecutive chunks of T characters.
// Each chunk runs forward (time-major, batch B) from the state the previous chunk left (zero for
// the first: truncated BPTT), through the softmax head and backward. Prints the last chunk's mean
// cross-entropy and every parameter's gradient under its PyTorch name, as JSON on stdout. With an
// optimizer, it then trains on the first chunk for `steps` steps (global-norm clipping at `clip`,
// then the update, as the trainer does) and also prints the weights after them.
// Usage: node dist-test/torch/ours.js CHECKPOINT TEXT_FILE T B C [OPTIMIZER STEPS LR CLIP]
import { readFileSync } from 'node:fs';
import { loadCheckpoint } from '../../src/engine/checkpoint';
import { clipGradients, DEFAULT_OPTIMIZER, Optimizer } from '../../src/engine/optim';
import type { OptimizerKind } from '../../src/protocol';

const [checkpoint, textFile, length, batch, chunks, optimizer, steps, lr, clip] = process.argv.slice(2);
const { net, vocab } = loadCheckpoint(readFileSync(checkpoint), checkpoint);
if (!vocab) throw new Error(`${checkpoint} is not a character model`);
const [T, B, C] = [Number(length), Number(batch), Number(chunks)];
const index = new Map(vocab.map((c, i) => [c, i]));
const text = Array.from(readFileSync(textFile, 'utf8'));
const stream = C * T + 1;
if (text.length < B * stream) throw new Error(`${textFile} has fewer than ${B * stream} characters`);
const id = (c: string) => {
  const i = index.get(c);
  if (i === undefined) throw new Error(`${JSON.stringify(c)} is not in the run's vocabulary`);
  return i;
};
/** Chunk c, time-major (T, B): inputs and targets. */
function chunk(c: number): { x: Int32Array; y: Int32Array } {
  const x = new Int32Array(T * B);
  const y = new Int32Array(T * B);
  for (let t = 0; t < T; t++) {
    for (let b = 0; b < B; b++) {
      x[t * B + b] = id(text[b * stream + c * T + t]);
      y[t * B + b] = id(text[b * stream + c * T + t + 1]);
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
const byName = (buf: Float64Array) => Object.fromEntries(net.params.tensors.map((t) => [t.name, Array.from(buf.subarray(t.offset, t.offset + t.size))]));

const losses: number[] = [];
for (let c = 0; c < C; c++) losses.push(lossAndGradients(c));
const out: Record<string, unknown> = { losses, loss: losses[C - 1], tokens: Array.from(chunk(0).x), vocab, grads: byName(net.params.grad) };
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
