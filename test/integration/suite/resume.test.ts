import * as assert from 'assert';
import * as vscode from 'vscode';
import type { RnnLabApi } from '../../../src/extension/extension';
import type { MetricsRecord } from '../../../src/protocol/config';
import { activateExtension } from './helpers';

const decoder = new TextDecoder();

/**
 * Resume Run in the real host: every run keeps resume.safetensors beside its checkpoint, and a
 * run resumed from step 20 trains steps 21..40 with exactly the losses of a run trained 40 steps
 * straight (2 layers with dropout, so the RNG state matters too; Adam, so its moments do).
 */
describe('RNN Lab: Resume Run', () => {
  let api: RnnLabApi;
  let folder: vscode.Uri;
  const base = { data: 'tiny.txt', cell: 'lstm', layers: 2, hidden: 8, dropout: 0.2, seqLength: 8, batch: 2, checkpointEvery: 10, diagEvery: 10, evalEvery: 0, seed: 7, optimizer: 'adam' };

  before(async () => {
    api = await activateExtension();
    folder = vscode.workspace.workspaceFolders![0].uri;
  });

  const trainConfig = async (name: string, steps: number): Promise<string> => {
    const uri = vscode.Uri.joinPath(folder, `${name}.rnn.json`);
    await vscode.workspace.fs.writeFile(uri, new TextEncoder().encode(JSON.stringify({ ...base, name, steps })));
    const runId = await vscode.commands.executeCommand<string>('rnnLab.train', uri);
    assert.ok(runId, api.errors.at(-1));
    const summary = await api.whenDone(runId)!;
    assert.strictEqual(summary.status, 'finished', summary.message);
    return runId;
  };
  const metrics = async (runId: string): Promise<MetricsRecord[]> => {
    const text = decoder.decode(await vscode.workspace.fs.readFile(vscode.Uri.joinPath(api.store.runUri(runId), 'metrics.jsonl')));
    return text.trim().split('\n').map((l) => JSON.parse(l) as MetricsRecord);
  };
  const trace = (records: MetricsRecord[]) => records.map((r) => ({ step: r.step, loss: r.loss, gradNorm: r.gradNorm, clipped: r.clipped }));

  it('a run resumed from step 20 trains steps 21-40 exactly as a run trained 40 steps straight', async () => {
    const straight = await trainConfig('resume-straight', 40);
    const half = await trainConfig('resume-half', 20);
    const stat = await vscode.workspace.fs.stat(vscode.Uri.joinPath(api.store.runUri(half), 'resume.safetensors'));
    assert.ok(stat.size > 0, 'no resume.safetensors beside the checkpoint');

    const resumed = await vscode.commands.executeCommand<string>('rnnLab.resumeRun', { id: half, steps: 40 });
    assert.ok(resumed && resumed !== half, `no new run: ${api.errors.at(-1)}`);
    const summary = await api.whenDone(resumed)!;
    assert.strictEqual(summary.status, 'finished', summary.message);
    assert.strictEqual(summary.step, 40);

    const expected = trace((await metrics(straight)).filter((r) => r.step > 20));
    const got = trace(await metrics(resumed));
    assert.strictEqual(got.length, 20);
    assert.deepStrictEqual(got, expected, 'the resumed losses differ from the uninterrupted run');
    // The half run's own files are untouched.
    assert.strictEqual((await metrics(half)).at(-1)?.step, 20);
    console.log(`resume: steps 21-40 of the resumed run equal the straight run's bit for bit (loss at 40: ${got.at(-1)?.loss})`);
  });

  it('refuses to resume to a step it has already reached, with one message and no new run', async () => {
    const runs = (await api.store.list()).filter((r) => r.config?.name === 'resume-half' && r.summary?.step === 20);
    assert.ok(runs.length > 0);
    const before = (await api.store.list()).length;
    const errors = api.errors.length;
    const r = await vscode.commands.executeCommand<string>('rnnLab.resumeRun', { id: runs[0].id, steps: 20 });
    assert.strictEqual(r, undefined);
    assert.match(api.errors[errors] ?? '', /cannot resume run .*: it is at step 20; the steps to train until must be above that/);
    assert.strictEqual((await api.store.list()).length, before);
  });
});
