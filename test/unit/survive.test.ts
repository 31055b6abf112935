/**
 * Runs survive by default, the pure parts: checkpoint generations written over an in-memory file
 * system that crashes after every possible operation (and inside every write), the resume state
 * that holds the model, periodic checkpoints by an injected clock, and what a resume repairs. The
 * real processes (kill loop, signals, full disk, closed stdout) are in faults.test.ts.
 */
import * as assert from 'node:assert/strict';
import type { MetricsRecord, RunConfig } from '../../src/protocol/config';
import type { FromWorker } from '../../src/protocol/trainingWorker';
import { loadCheckpoint } from '../../src/engine/checkpoint';
import { DEFAULT_CONFIG, validateConfig } from '../../src/engine/config';
import { checkpointFromState, dataFingerprint } from '../../src/engine/resume';
import { decodeSafetensors, encodeSafetensors, type NamedTensor } from '../../src/engine/safetensors';
import { datasetFor, generationOf, runSession, type Generation } from '../../src/engine/session';
import { Trainer } from '../../src/engine/trainer';
import { keptDescription, readGeneration, removeStaleTemps, repairGeneration, storedGenerationStep, writeGeneration } from '../../src/runFolder/generation';
import { deriveSummary, type RunFs } from '../../src/runFolder/runFolder';
import { repairJsonl, repairJsonlChunks, resumedConfig } from '../../src/runFolder/repair';

const text = 'It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of a wife. '.repeat(20);
const config = (over: Partial<RunConfig> = {}): RunConfig => validateConfig({ ...DEFAULT_CONFIG, cell: 'lstm', hidden: 6, seqLength: 8, batch: 2, steps: 30, diagEvery: 0, evalEvery: 0, dropout: 0.1, ...over }).config;

class Crash extends Error {}

/**
 * A RunFs in memory (flat: folders are name prefixes). After `budget` changing operations it
 * "crashes": the operation that exceeds it does nothing (a file write leaves the first half of its
 * bytes, as a killed writer may) and throws, and so does every later one, as if the process had
 * died there.
 */
class MemoryFs implements RunFs {
  files = new Map<string, Uint8Array>();
  ops = 0;
  budget = Infinity;
  private spend(): void {
    if (++this.ops > this.budget) throw new Crash('crashed');
  }
  async readFile(p: string) {
    const data = this.files.get(p);
    if (!data) throw new Error(`no ${p}`);
    return data;
  }
  async exists(p: string) {
    return this.files.has(p);
  }
  async createDirectory() {}
  async writeFile(p: string, data: Uint8Array) {
    if (this.ops + 1 > this.budget) this.files.set(p, data.slice(0, data.length >> 1));
    this.spend();
    this.files.set(p, data.slice());
  }
  async rename(from: string, to: string) {
    this.spend();
    const data = this.files.get(from);
    if (!data) throw new Error(`no ${from}`);
    this.files.delete(from);
    this.files.set(to, data);
  }
  async delete(p: string) {
    this.spend();
    this.files.delete(p);
  }
  async readDirectory(dir: string): Promise<[string, boolean][]> {
    return [...this.files.keys()].filter((p) => p.startsWith(`${dir}/`)).map((p): [string, boolean] => [p.slice(dir.length + 1), false]);
  }
  async fsync() {
    this.spend();
  }
}

function generations(steps: number[]): Generation[] {
  const cfg = config();
  const trainer = new Trainer(cfg, datasetFor(cfg, text));
  const out: Generation[] = [];
  for (const s of steps) {
    while (trainer.step < s) trainer.trainStep();
    out.push(generationOf(trainer, dataFingerprint(text)));
  }
  return out;
}

describe('checkpoint generations (runFolder/generation.ts)', () => {
  const [g4, g6] = generations([4, 6]);

  it('the checkpoint derived from a resume file is byte for byte the one written beside it', () => {
    assert.deepEqual([...checkpointFromState(decodeSafetensors(g6.state), 's')], [...g6.model]);
    assert.equal(loadCheckpoint(checkpointFromState(decodeSafetensors(g6.state), 's'), 'c').config.hidden, 6);
  });

  it('a crash after every operation of a write (and inside every file write) leaves a whole generation, old or new; the next open cleans up and repairs', async () => {
    const total = await (async () => {
      const fs = new MemoryFs();
      await writeGeneration(fs, 'run', g6);
      return fs.ops;
    })();
    const outcomes: Record<string, number> = {};
    for (const first of [true, false]) {
      for (let budget = 0; budget <= total; budget++) {
        const fs = new MemoryFs();
        if (!first) await writeGeneration(fs, 'run', g4);
        fs.budget = fs.ops + budget;
        await writeGeneration(fs, 'run', g6).catch((e) => assert.ok(e instanceof Crash, String(e)));
        fs.budget = Infinity;
        const stored = await readGeneration(fs, 'run');
        const key = `${first ? 'first' : 'second'} write, crash after ${budget} of ${total}`;
        if (first && stored.kind === 'none') {
          outcomes.none = (outcomes.none ?? 0) + 1;
        } else {
          assert.equal(stored.kind, 'resumable', key);
          if (stored.kind !== 'resumable') continue;
          const want = stored.step === 6 ? g6 : g4;
          assert.ok(stored.step === 6 || (!first && stored.step === 4), `${key}: step ${stored.step}`);
          assert.deepEqual([...stored.state], [...want.state], key);
          assert.deepEqual([...stored.model], [...want.model], key);
          outcomes[`step ${stored.step}${stored.modelBehind ? ', model behind' : ''}`] = (outcomes[`step ${stored.step}${stored.modelBehind ? ', model behind' : ''}`] ?? 0) + 1;
        }
        await removeStaleTemps(fs, 'run');
        assert.deepEqual([...fs.files.keys()].filter((p) => p.includes('.tmp')), [], key);
        if (await repairGeneration(fs, 'run', stored)) {
          const again = await readGeneration(fs, 'run');
          assert.ok(again.kind === 'resumable' && !again.modelBehind, key);
          assert.deepEqual([...fs.files.get('run/checkpoint.safetensors')!], [...(stored as { model: Uint8Array }).model], key);
        }
      }
    }
    console.log(`      ${2 * (total + 1)} crash points over ${total} operations: ${Object.entries(outcomes).map(([k, v]) => `${v} ${k}`).join(', ')}`);
    assert.ok(outcomes['step 6, model behind'] >= 2, 'no crash fell between the two renames');
  });

  it('a failed write (e.g. a full disk) removes its temp files and leaves the previous generation', async () => {
    const fs = new MemoryFs();
    await writeGeneration(fs, 'run', g4);
    const full = Object.assign(Object.create(fs) as MemoryFs, {
      writeFile: async (p: string, data: Uint8Array) => {
        if (p.startsWith('run/checkpoint')) throw Object.assign(new Error('ENOSPC'), { code: 'ENOSPC' });
        return fs.writeFile(p, data);
      },
    });
    await assert.rejects(writeGeneration(full, 'run', g6), /ENOSPC/);
    assert.deepEqual([...fs.files.keys()].sort(), ['run/checkpoint.safetensors', 'run/resume.safetensors']);
    const stored = await readGeneration(fs, 'run');
    assert.ok(stored.kind === 'resumable' && stored.step === 4 && !stored.modelBehind);
  });

  it('how much a stopped run kept: the generation step from the headers alone, in the Runs view\'s words', async () => {
    const fs = new MemoryFs();
    assert.equal(await storedGenerationStep(fs, 'run'), undefined);
    assert.equal(keptDescription(1840, undefined), 'stopped at step 1,840; interrupted before its first checkpoint');
    await writeGeneration(fs, 'run', g4);
    await writeGeneration(fs, 'run', g6);
    assert.equal(await storedGenerationStep(fs, 'run'), 6);
    // Killed between the renames: the resume file (the commit point) says which generation it is.
    fs.files.set('run/checkpoint.safetensors', g4.model);
    assert.equal(await storedGenerationStep(fs, 'run'), 6);
    assert.equal(keptDescription(1840, 1800), 'stopped at step 1,840; checkpoint at step 1,800');
    const metrics = [{ type: 'metrics', step: 9, loss: 2 }] as MetricsRecord[];
    assert.equal(deriveSummary(false, undefined, metrics, 6).summary?.checkpointStep, 6);
    assert.equal(deriveSummary(false, undefined, metrics).summary?.checkpointStep, undefined);
  });

  it('runs of the older layout (resume state without the weights) read as before: the same step, or refused with both steps named', async () => {
    const v1 = (g: Generation) => {
      const d = decodeSafetensors(g.state);
      const tensors: NamedTensor[] = [...d.tensors].filter(([n]) => !n.startsWith('model.')).map(([name, t]) => ({ name, shape: t.shape, data: t.data }));
      return encodeSafetensors(tensors, { ...d.metadata, format: 'rnn-lab-resume/1' });
    };
    const fs = new MemoryFs();
    fs.files.set('run/resume.safetensors', v1(g6));
    fs.files.set('run/checkpoint.safetensors', g6.model);
    const ok = await readGeneration(fs, 'run');
    assert.ok(ok.kind === 'resumable' && ok.step === 6 && !ok.modelBehind);
    fs.files.set('run/checkpoint.safetensors', g4.model);
    assert.deepEqual(await readGeneration(fs, 'run'), { kind: 'broken', reason: 'run/resume.safetensors is of step 6, the checkpoint of step 4' });
    fs.files.delete('run/resume.safetensors');
    const model = await readGeneration(fs, 'run');
    assert.ok(model.kind === 'model' && model.step === 4);
  });
});

describe('periodic checkpoints (engine session, injected clock)', () => {
  /** A session whose clock reads 1 s per step trained; returns the generations it posted and its records. */
  async function run(over: Partial<RunConfig>) {
    let t = 0;
    const saved: Generation[] = [];
    const metrics: MetricsRecord[] = [];
    const post = (m: FromWorker) => {
      if (m.type === 'metrics') {
        metrics.push(m.record);
        t = m.record.step * 1000;
      }
      if (m.type === 'checkpoint') saved.push({ step: m.step, model: m.bytes, state: m.resumeState! });
    };
    const summary = await runSession({ runId: 'r', config: config(over), dataText: text, keepResumable: true }, post, () => false, { clock: () => t });
    return { saved, metrics, summary };
  }

  it('every checkpointSeconds of training and at the end; the weights and losses do not depend on when checkpoints fell', async () => {
    const timed = await run({ checkpointSeconds: 5 });
    assert.deepEqual(timed.saved.map((g) => g.step), [6, 12, 18, 24, 30]);
    const both = await run({ checkpointSeconds: 7, checkpointEvery: 4 });
    assert.deepEqual(both.saved.map((g) => g.step), [4, 8, 12, 16, 20, 24, 28, 30]);
    const endOnly = await run({ checkpointSeconds: 0 });
    assert.deepEqual(endOnly.saved.map((g) => g.step), [30]);
    const losses = (r: { metrics: MetricsRecord[] }) => r.metrics.map((m) => [m.step, m.loss, m.gradNorm]);
    assert.deepEqual(losses(timed), losses(endOnly));
    assert.deepEqual(losses(both), losses(endOnly));
    const weights = (r: { saved: Generation[] }) => [...loadCheckpoint(r.saved.at(-1)!.model, 'c').net.params.data];
    assert.deepEqual(weights(timed), weights(endOnly));
    assert.deepEqual(weights(both), weights(endOnly));
  });

  it('a stopped run writes its last checkpoint at the step it stopped', async () => {
    const saved: number[] = [];
    let steps = 0;
    const post = (m: FromWorker) => {
      if (m.type === 'metrics') steps++;
      if (m.type === 'checkpoint') saved.push(m.step);
    };
    const summary = await runSession({ runId: 'r', config: config({ checkpointSeconds: 0 }), dataText: text, keepResumable: true }, post, () => steps >= 9);
    assert.equal(summary.status, 'stopped');
    assert.deepEqual(saved, [9]);
  });

  it('what a resume honours in an edited config.json (evalEvery, diagEvery, ...) does not change the training', async () => {
    const plain = await run({ checkpointSeconds: 0 });
    const recorded = await run({ checkpointSeconds: 0, evalEvery: 4, diagEvery: 3, spectrumEvery: 5 });
    assert.deepEqual(recorded.metrics.map((m) => [m.step, m.loss, m.gradNorm]), plain.metrics.map((m) => [m.step, m.loss, m.gradNorm]));
    assert.deepEqual([...loadCheckpoint(recorded.saved[0].model, 'c').net.params.data], [...loadCheckpoint(plain.saved[0].model, 'c').net.params.data]);
  });
});

describe('resume repairs (runFolder/repair.ts)', () => {
  const r = (step: number) => JSON.stringify({ type: 'metrics', step, loss: 1.5 });

  it('JSONL: a torn last line is cut, a whole one without its newline is ended, records past the checkpoint go; other damage is refused', () => {
    assert.equal(repairJsonl(`${r(1)}\n${r(2)}\n{"type":"metr`, 5, 'm'), `${r(1)}\n${r(2)}\n`);
    assert.equal(repairJsonl(`${r(1)}\n${r(2)}`, 5, 'm'), `${r(1)}\n${r(2)}\n`);
    assert.equal(repairJsonl(`${r(1)}\n${r(2)}\n${r(3)}\n`, 2, 'm'), `${r(1)}\n${r(2)}\n`);
    assert.equal(repairJsonl(`${r(1)}\n${r(2)}\n`, 2, 'm'), undefined);
    assert.equal(repairJsonl('', 0, 'm'), undefined);
    assert.throws(() => repairJsonl(`${r(1)}\n{oops\n${r(3)}\n`, 5, 'run/metrics.jsonl'), /^EngineError: run\/metrics\.jsonl line 2 is not a JSON record$/);
  });

  it('JSONL chunks: newest first, those wholly past the checkpoint removed, the one holding it cut, older ones unread', async () => {
    const chunks = [`${r(1)}\n${r(2)}\n`, `${r(3)}\n${r(4)}\n${r(5)}\n`, `${r(6)}\n{"ty`];
    const read: number[] = [];
    const out = await repairJsonlChunks(async (i) => (read.push(i), chunks[i]), 3, 4, (i) => `c${i}`);
    assert.deepEqual(out, [undefined, `${r(3)}\n${r(4)}\n`, null]);
    assert.deepEqual(read, [2, 1]);
    assert.deepEqual(await repairJsonlChunks(async (i) => chunks[i], 3, 0, (i) => `c${i}`), ['', null, null]);
  });

  it('an edited config.json: fields that only say how long and what to record are honoured; others refused in one line naming the field', () => {
    const trained = config({ steps: 30, evalEvery: 0 });
    assert.deepEqual(resumedConfig(trained, undefined, 'run/config.json'), trained);
    const honoured = resumedConfig(trained, { ...trained, steps: 50, evalEvery: 10, diagEvery: 5 }, 'run/config.json');
    assert.equal(honoured.steps, 50);
    assert.equal(honoured.evalEvery, 10);
    assert.equal(honoured.diagEvery, 5);
    // A config.json without the defaults (hand-written, or of an older version) is the same config.
    assert.deepEqual(resumedConfig(trained, { data: trained.data, name: trained.name, cell: 'lstm', hidden: 6, seqLength: 8, batch: 2, steps: 30, diagEvery: 0, evalEvery: 0, dropout: 0.1 }, 'c'), trained);
    assert.throws(() => resumedConfig(trained, { ...trained, hidden: 16 }, 'run/config.json'), (e: Error & { line?: string }) => {
      assert.match(e.line ?? '', /^run\/config\.json: "hidden" is 16 but the checkpoint was trained with 6\. A resume keeps what is trained; only steps, .* may change\. Put it back, or train a new run\.$/);
      assert.ok(!e.line!.includes('\n') && e.line!.length < 300, e.line);
      return true;
    });
    assert.throws(() => resumedConfig(trained, { ...trained, lr: 'fast' }, 'run/config.json'), /run\/config\.json: "lr" must be a finite number/);
  });
});
