import * as assert from 'assert';
import { datasetFor, generationOf } from '../../src/engine/session';
import { dataFingerprint } from '../../src/engine/resume';
import { validateConfig } from '../../src/engine/config';
import { Trainer } from '../../src/engine/trainer';
import { decodeSafetensors, encodeSafetensors } from '../../src/engine/safetensors';
import { EngineError } from '../../src/engine/errors';
import { pytorchProject } from '../../src/pytorch/export';
import { seq2seqGenerationOf } from '../../src/engine/seq2seqSession';
import { Seq2SeqTrainer, seq2seqData } from '../../src/engine/seq2seqTrainer';
import { readPairs } from '../../src/engine/seq2seq/pairs';

const text = 'It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of a wife. '.repeat(4);

function generation(steps: number) {
  const { config } = validateConfig({ name: 'tiny', cell: 'lstm', hidden: 6, seqLength: 8, batch: 2, steps: 10, seed: 3 });
  const trainer = new Trainer(config, datasetFor(config, text));
  for (let i = 0; i < steps; i++) trainer.trainStep();
  return generationOf(trainer, dataFingerprint(text));
}

describe('export-pytorch project', () => {
  it('holds the Python sources, the generation, the data and the records up to its step', () => {
    const g = generation(3);
    const metrics = [1, 2, 3, 4].map((step) => JSON.stringify({ type: 'metrics', step })).join('\n') + '\n{"type":"metr';
    const { files, step, config } = pytorchProject({ source: '/w/.rnn-lab/runs/tiny', model: g.model, state: g.state, metrics, diagnostics: '', dataName: 'austen.txt', data: new TextEncoder().encode(text) });
    assert.strictEqual(step, 3);
    assert.strictEqual(config.hidden, 6);
    for (const name of ['model.py', 'data.py', 'train.py', 'rnnlab_logger.py', 'README.md', 'rnnlab_project.json', 'data/austen.txt', 'run/resume.safetensors', 'run/checkpoint.safetensors', 'run/config.json']) {
      assert.ok(files[name] !== undefined, `${name} is missing`);
    }
    assert.match(files['model.py'] as string, /class LSTMModel\(WithEnds, nn\.LSTM\)/);
    assert.match(files['train.py'] as string, /DistributedDataParallel/);
    assert.strictEqual(files['run/resume.safetensors'], g.state);
    // Records past the generation's step, and a torn last line, are left out.
    assert.deepStrictEqual((files['run/metrics.jsonl'] as string).trim().split('\n').map((l) => JSON.parse(l).step), [1, 2, 3]);
    assert.deepStrictEqual(JSON.parse(files['rnnlab_project.json'] as string), { source: '/w/.rnn-lab/runs/tiny', data: 'data/austen.txt', name: 'tiny', step: 3 });
  });

  it('refuses a resume file without parameters (format /1), saying how to upgrade it', () => {
    const g = generation(1);
    const { tensors, metadata } = decodeSafetensors(g.state);
    const old = encodeSafetensors([...tensors].filter(([n]) => !n.startsWith('model.')).map(([name, t]) => ({ name, shape: t.shape, data: t.data })), { ...metadata, format: 'rnn-lab-resume/1' });
    assert.throws(
      () => pytorchProject({ source: 'runs/old', model: g.model, state: old, metrics: '', diagnostics: '', dataName: 'a.txt', data: new Uint8Array(0) }),
      (e: unknown) => e instanceof EngineError && /rnn-lab-resume\/1/.test(e.message) && /rnn-lab train --resume/.test(e.line),
    );
  });
});

describe('export-pytorch project of a seq2seq run', () => {
  function seq2seqGeneration(raw: Record<string, unknown>, pairs?: string) {
    const { config } = validateConfig({ name: 's2s', cell: 'gru', hidden: 6, embedding: 4, batch: 3, steps: 10, seed: 2, heldOut: 12, ...raw });
    const trainer = new Seq2SeqTrainer(config, seq2seqData(config, pairs));
    for (let i = 0; i < 2; i++) trainer.trainStep();
    return { config, g: seq2seqGenerationOf(trainer, dataFingerprint(pairs ?? '')), trainer };
  }

  it('writes the seq2seq sources and, for a generated task, the held-out set (its training stream is ported)', () => {
    const { g, trainer } = seq2seqGeneration({ task: 'reverse', attention: 'additive' });
    const evalText = [1, 2, 3].map((step) => JSON.stringify({ type: 'seq2seqEval', step })).join('\n') + '\n';
    const { files, step } = pytorchProject({ source: 'runs/s2s', model: g.model, state: g.state, metrics: '', diagnostics: '', eval: evalText, dataName: '', data: new Uint8Array(0) });
    assert.strictEqual(step, 2);
    assert.match(files['model.py'] as string, /class AdditiveAttention\(nn\.Module\)/);
    assert.match(files['data.py'] as string, /xoshiro128\*\*/);
    assert.match(files['train.py'] as string, /DistributedDataParallel/);
    const examples = JSON.parse(files['data/examples.json'] as string) as { heldOut: { src: number[]; tgt: number[]; source: string }[]; train?: unknown };
    assert.strictEqual(examples.train, undefined);
    assert.deepStrictEqual(examples.heldOut.map((e) => e.src), trainer.data.heldOut.map((e) => e.src));
    assert.deepStrictEqual(examples.heldOut[0].source, trainer.data.heldOut[0].source);
    assert.deepStrictEqual((files['run/eval.jsonl'] as string).trim().split('\n').map((l) => JSON.parse(l).step), [1, 2]);
    assert.deepStrictEqual(JSON.parse(files['rnnlab_project.json'] as string), { source: 'runs/s2s', examples: 'data/examples.json', name: 's2s', step: 2 });
    assert.match(files['README.md'] as string, /additive attention, generated task reverse/);
  });

  it("writes a pairs file's training examples as the engine read them, and refuses another file", () => {
    const pairs = Array.from({ length: 40 }, (_, i) => `a${i % 7} b${i % 5}\tc${i % 3} d${i % 4}`).join('\n') + '\nno tab here\n';
    const { config, g } = seq2seqGeneration({ task: 'seq2seq', data: 'p.tsv', attention: 'dot', tokenization: 'word' }, pairs);
    const data = new TextEncoder().encode(pairs);
    const { files } = pytorchProject({ source: 'runs/s2s', model: g.model, state: g.state, metrics: '', diagnostics: '', dataName: 'p.tsv', data });
    const d = readPairs(pairs, 'p.tsv', { format: 'tsv', tokenization: config.tokenization, seed: config.seed });
    const examples = JSON.parse(files['data/examples.json'] as string) as { train: { src: number[]; tgt: number[] }[]; heldOut: unknown[] };
    assert.deepStrictEqual(examples.train, d.train.map((e) => ({ src: e.src, tgt: e.tgt })));
    assert.strictEqual(examples.heldOut.length, d.heldOut.length);
    assert.throws(
      () => pytorchProject({ source: 'runs/s2s', model: g.model, state: g.state, metrics: '', diagnostics: '', dataName: 'other.tsv', data: new TextEncoder().encode(pairs + 'x\ty\n') }),
      (e: unknown) => e instanceof EngineError && /other\.tsv is not the pairs file/.test(e.message) && /--data/.test(e.line),
    );
  });
});
