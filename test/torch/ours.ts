// Our engine's side of test/torch/check.py: loads a run's checkpoint, runs one chunk of a text
// (batch 1, zero initial state) forward, through the softmax head and backward, and prints the
// mean cross-entropy and every parameter's gradient under its PyTorch name, as JSON on stdout.
// Usage: node dist-test/torch/ours.js RUN_DIR/checkpoint.safetensors TEXT_FILE LENGTH
import { readFileSync } from 'node:fs';
import { loadCheckpoint } from '../../src/engine/checkpoint';

const [checkpoint, textFile, length] = process.argv.slice(2);
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
net.params.zeroGrad();
net.forward(ids.subarray(0, T), T, 1, net.newState(1));
const loss = net.head(ids.subarray(1, T + 1), { backward: true });
net.backward();
const grads: Record<string, number[]> = {};
for (const t of net.params.tensors) grads[t.name] = Array.from(net.params.grad.subarray(t.offset, t.offset + t.size));
process.stdout.write(JSON.stringify({ loss, tokens: Array.from(ids), vocab, grads }));
