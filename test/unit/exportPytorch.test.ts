import * as assert from 'assert';
import { datasetFor, generationOf } from '../../src/engine/session';
import { dataFingerprint } from '../../src/engine/resume';
import { validateConfig } from '../../src/engine/config';
import { Trainer } from '../../src/engine/trainer';
import { decodeSafetensors, encodeSafetensors } from '../../src/engine/safetensors';
import { EngineError } from '../../src/engine/errors';
import { pytorchProject } from '../../src/pytorch/export';

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
