// Our engine's side of test/torch/check.py. Loads a run's checkpoint and runs one chunk of a text
// (batch 1, zero initial state) forward, through the softmax head and backward; prints the mean
// cross-entropy and every parameter's gradient under its PyTorch name, as JSON on stdout. With an
// optimizer, it then trains on that chunk for `steps` steps (global-norm clipping at `clip`, then
// the update, as the trainer does) and also prints the weights after them.
// Usage: node dist-test/torch/ours.js CHECKPOINT TEXT_FILE LENGTH [OPTIMIZER STEPS LR CLIP]
import { readFileSync } from 'node:fs';
import { loadCheckpoint } from '../../src/engine/checkpoint';
import { clipGradients, DEFAULT_OPTIMIZER, Optimizer } from '../../src/engine/optim';
import type { OptimizerKind } from '../../src/protocol';

const [checkpoint, textFile, length, optimizer, steps, lr, clip] = process.argv.slice(2);
const { net, vocab } = loadCheckpoint(readFileSync(checkpoint), checkpoint);
if (!vocab) throw new Error(`${checkpoint} is not a character model`);
const T = Number(length);
const index = new Map(vocab.map((c, i) => [c, i]));
const chars = Array.from(readFileSync(textFile, 'utf8')).slice(0, T + 1);
if (chars.length < T + 1) throw new Error(`${textFile} has fewer than ${T + 1} characters`);
const ids = Int32Array.from(chars, (c) => {
  const i = index.get(c);
  if (i === undefined) throw new Error(`${JSON.stringify(c)} is not in the run's vocabulary`);
  return i;
});

/** Loss and gradients of the chunk at the current weights. */
function lossAndGradients(): number {
  net.params.zeroGrad();
  net.forward(ids.subarray(0, T), T, 1, net.newState(1));
  const loss = net.head(ids.subarray(1, T + 1), { backward: true });
  net.backward();
  return loss;
}
const byName = (buf: Float64Array) => Object.fromEntries(net.params.tensors.map((t) => [t.name, Array.from(buf.subarray(t.offset, t.offset + t.size))]));

const loss = lossAndGradients();
const out: Record<string, unknown> = { loss, tokens: Array.from(ids), vocab, grads: byName(net.params.grad) };
if (optimizer) {
  const kind = optimizer as OptimizerKind;
  const opt = new Optimizer(net.params.size, { ...DEFAULT_OPTIMIZER, kind, momentum: kind === 'sgd' ? 0.9 : 0 });
  const norms: number[] = [];
  for (let s = 0; s < Number(steps); s++) {
    lossAndGradients();
    norms.push(clipGradients(net.params.grad, 'norm', Number(clip)).norm);
    opt.step(net.params.data, net.params.grad, Number(lr));
  }
  out.trained = { norms, weights: byName(net.params.data) };
}
process.stdout.write(JSON.stringify(out));
