import * as assert from 'assert';
import * as vscode from 'vscode';
import type { RnnLabApi } from '../../../src/extension/extension';
import type { Seq2SeqEvalRecord } from '../../../src/protocol/config';
import { activateExtension } from './helpers';

const decoder = new TextDecoder();

/**
 * A seq2seq run from a *.rnn.json config in the real host: a generated task needs no data file, its
 * held-out evaluations are kept in eval.jsonl as the CLI keeps them, the summary carries exact match
 * and token accuracy, and Resume Run continues it (no data file to read either).
 */
describe('RNN Lab: seq2seq runs', () => {
  let api: RnnLabApi;
  let folder: vscode.Uri;

  before(async () => {
    api = await activateExtension();
    folder = vscode.workspace.workspaceFolders![0].uri;
  });

  it('trains a generated reversal task from a config, keeps its evaluations, and resumes it', async () => {
    const config = { name: 's2s-reverse', task: 'reverse', attention: 'dot', srcLen: '3-5', embedding: 8, hidden: 16, batch: 8, steps: 20, evalEvery: 10, heldOut: 50, diagEvery: 10, checkpointEvery: 10, seed: 3 };
    const uri = vscode.Uri.joinPath(folder, 's2s-reverse.rnn.json');
    await vscode.workspace.fs.writeFile(uri, new TextEncoder().encode(JSON.stringify(config)));
    const runId = await vscode.commands.executeCommand<string>('rnnLab.train', uri);
    assert.ok(runId, api.errors.at(-1));
    const summary = await api.whenDone(runId)!;
    assert.strictEqual(summary.status, 'finished', summary.message);
    assert.strictEqual(summary.step, 20);
    assert.ok(typeof summary.exactMatch === 'number' && summary.exactMatch >= 0 && summary.exactMatch <= 1, `exactMatch ${summary.exactMatch}`);
    assert.ok(typeof summary.tokenAccuracy === 'number' && summary.tokenAccuracy > 0, `tokenAccuracy ${summary.tokenAccuracy}`);
    const evalText = decoder.decode(await vscode.workspace.fs.readFile(vscode.Uri.joinPath(api.store.runUri(runId), 'eval.jsonl')));
    const evals = evalText.trim().split('\n').map((l) => JSON.parse(l) as Seq2SeqEvalRecord);
    assert.deepStrictEqual(evals.map((e) => e.step), [10, 20]);
    assert.strictEqual(evals[1].examples, 50);
    assert.ok(evals[1].attention && evals[1].attention.length > 0, 'no pinned attention maps in the evaluation');

    const resumed = await vscode.commands.executeCommand<string>('rnnLab.resumeRun', { id: runId, steps: 30 });
    assert.ok(resumed && resumed !== runId, `no resumed run: ${api.errors.at(-1)}`);
    const after = await api.whenDone(resumed)!;
    assert.strictEqual(after.status, 'finished', after.message);
    assert.strictEqual(after.step, 30);
    console.log(`seq2seq: reversal trained 20 steps in the host (exact match ${summary.exactMatch}, token accuracy ${summary.tokenAccuracy?.toFixed(3)}), resumed to 30`);
  });
});
