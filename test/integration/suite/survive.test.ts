import * as assert from 'assert';
import * as vscode from 'vscode';
import type { RnnLabApi } from '../../../src/extension/extension';
import { runFiles } from '../../../src/runFolder/runFolder';
import { activateExtension, waitFor } from './helpers';

const encoder = new TextEncoder();

/**
 * Runs survive in the real host: a run writes checkpoint generations on a timer while it trains,
 * and its latest one serves Sample and Run Model on Selection while it still trains; Stop writes
 * one at the step it stopped; a run without any says so where a model is asked for.
 */
describe('RNN Lab: runs survive', () => {
  let api: RnnLabApi;
  let folder: vscode.Uri;

  before(async () => {
    api = await activateExtension();
    folder = vscode.workspace.workspaceFolders![0].uri;
  });

  const exists = async (uri: vscode.Uri): Promise<true | undefined> => {
    try {
      await vscode.workspace.fs.stat(uri);
      return true;
    } catch {
      return undefined;
    }
  };

  it('a training run is sampled and run on a selection through its latest checkpoint; Stop writes one at its step', async function () {
    this.timeout(120_000);
    const uri = vscode.Uri.joinPath(folder, 'survive-live.rnn.json');
    const config = { name: 'survive-live', data: 'tiny.txt', cell: 'lstm', hidden: 8, seqLength: 8, batch: 2, steps: 1_000_000, checkpointSeconds: 0.2, diagEvery: 0, evalEvery: 0 };
    await vscode.workspace.fs.writeFile(uri, encoder.encode(JSON.stringify(config)));
    const runId = await vscode.commands.executeCommand<string>('rnnLab.train', uri);
    assert.ok(runId, api.errors.at(-1));
    await waitFor('a timed checkpoint while the run trains', () => exists(vscode.Uri.joinPath(api.store.runUri(runId), runFiles.resume)), 60_000);
    const text = await vscode.commands.executeCommand<string>('rnnLab.sample', { runId, temperature: 0.8, length: 40, prime: 'It ' });
    assert.ok(text?.startsWith('It ') && text.length === 43, `sample: ${text}; errors: ${api.errors.join(' | ')}`);
    const doc = await vscode.workspace.openTextDocument({ content: 'It is a truth universally acknowledged, that a single man', language: 'plaintext' });
    const editor = await vscode.window.showTextDocument(doc);
    editor.selection = new vscode.Selection(doc.positionAt(6), doc.positionAt(30));
    const result = await vscode.commands.executeCommand<{ kind: string; chars?: unknown[] }>('rnnLab.runOnSelection', { runId });
    assert.ok(result?.kind === 'text' && result.chars?.length === 24, `run on selection: ${JSON.stringify(result)?.slice(0, 200)}; errors: ${api.errors.join(' | ')}`);
    assert.ok(api.activeRuns().includes(runId), 'the run ended before it was inspected: the test proved nothing');
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');

    await vscode.commands.executeCommand('rnnLab.stopTraining', { runId });
    const summary = await api.whenDone(runId)!;
    assert.strictEqual(summary.status, 'stopped');
    assert.strictEqual(summary.checkpointStep, summary.step, 'Stop did not write a checkpoint at the step it stopped');
    await api.refreshRuns();
    const described = api.runs.getRuns().find((r) => r.id === runId)?.description ?? '';
    assert.match(described, new RegExp(`^stopped at step ${summary.step.toLocaleString('en-US')}; checkpoint at step ${summary.step.toLocaleString('en-US')} · `));
    console.log(`survive: sampled and ran on a selection while training; stopped: "${described}"`);
  });

  it('a run interrupted before its first checkpoint: Sample says why it has no model, and is not offered it', async () => {
    const id = '20000101-000001-nomodel';
    const dir = vscode.Uri.joinPath(api.store.root, id);
    await vscode.workspace.fs.createDirectory(dir);
    await vscode.workspace.fs.writeFile(vscode.Uri.joinPath(dir, 'config.json'), encoder.encode(JSON.stringify({ name: 'nomodel', data: 'tiny.txt', cell: 'lstm', layers: 1, hidden: 4, task: 'charlm' })));
    await vscode.workspace.fs.writeFile(vscode.Uri.joinPath(dir, 'metrics.jsonl'), encoder.encode('{"type":"metrics","step":1,"loss":4.25}\n'));
    const errors = api.errors.length;
    const text = await vscode.commands.executeCommand<string>('rnnLab.sample', { runId: id, temperature: 0.8, length: 10, prime: '' });
    assert.strictEqual(text, undefined);
    assert.strictEqual(api.errors.length, errors + 1);
    assert.match(api.errors[errors], /run 20000101-000001-nomodel has no model yet: interrupted before its first checkpoint\. Pick another run, or resume this one\./);
    await api.refreshRuns();
    assert.match(api.runs.getRuns().find((r) => r.id === id)?.description ?? '', /^stopped at step 1; interrupted before its first checkpoint/);
    await vscode.workspace.fs.delete(dir, { recursive: true });
  });
});
