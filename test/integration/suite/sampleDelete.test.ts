import * as assert from 'assert';
import * as vscode from 'vscode';
import type { RnnLabApi } from '../../../src/extension/extension';
import { activateExtension } from './helpers';

describe('RNN Lab: Sample from Model and Delete Run', () => {
  let api: RnnLabApi;
  let runId: string;

  before(async () => {
    api = await activateExtension();
    const folder = vscode.workspace.workspaceFolders![0].uri;
    runId = (await vscode.commands.executeCommand<string>('rnnLab.train', vscode.Uri.joinPath(folder, 'tiny.rnn.json')))!;
    const summary = await api.whenDone(runId)!;
    assert.strictEqual(summary.status, 'finished', summary.message);
  });

  it('samples N characters after the prime into a new untitled editor', async () => {
    const text = await vscode.commands.executeCommand<string>('rnnLab.sample', { runId, temperature: 0.8, length: 60, prime: 'the ' });
    assert.ok(typeof text === 'string');
    assert.ok(text.startsWith('the '), text);
    assert.strictEqual(Array.from(text).length, 64);
    const editor = vscode.window.activeTextEditor;
    assert.ok(editor && editor.document.isUntitled, 'no untitled editor opened');
    assert.strictEqual(editor.document.getText(), text);
    // Every sampled character comes from the training text's vocabulary.
    const folder = vscode.workspace.workspaceFolders![0].uri;
    const corpus = new TextDecoder().decode(await vscode.workspace.fs.readFile(vscode.Uri.joinPath(folder, 'tiny.txt')));
    for (const ch of text.slice(4)) assert.ok(corpus.includes(ch), `sampled ${JSON.stringify(ch)} is not in the vocabulary`);
    await vscode.commands.executeCommand('workbench.action.revertAndCloseActiveEditor');
  });

  it('refuses a bad temperature, length or priming text with one message each', async () => {
    const bad = [
      { temperature: -1, length: 10, prime: '' },
      { temperature: '0.5', length: 10, prime: '' },
      { temperature: Infinity, length: 10, prime: '' },
      { temperature: 0.8, length: 1e9, prime: '' },
      { temperature: 0.8, length: 10, prime: 'x'.repeat(10_001) },
      { temperature: 0.8, length: 10, prime: 42 },
    ];
    for (const opts of bad) {
      const before = api.errors.length;
      const text = await vscode.commands.executeCommand<string>('rnnLab.sample', { runId, ...opts });
      assert.strictEqual(text, undefined);
      assert.strictEqual(api.errors.length, before + 1);
      assert.match(api.errors[api.errors.length - 1], /temperature must be above 0/);
      assert.ok(api.errors[api.errors.length - 1].length < 300);
    }
  });

  it('deletes a run folder (confirmed) and the Runs view forgets it', async () => {
    const dir = api.store.runUri(runId);
    assert.ok(await vscode.workspace.fs.stat(dir));
    const deleted = await vscode.commands.executeCommand<boolean>('rnnLab.deleteRun', { runId, confirmed: true });
    assert.strictEqual(deleted, true);
    await assert.rejects(Promise.resolve(vscode.workspace.fs.stat(dir)));
    assert.ok(!api.runs.getRuns().some((r) => r.id === runId), 'the Runs view still lists the deleted run');
  });

  it('a run id that does not exist (or tries ../) is refused, nothing deleted', async () => {
    const before = api.errors.length;
    const deleted = await vscode.commands.executeCommand<boolean>('rnnLab.deleteRun', { runId: '../tiny.txt', confirmed: true });
    assert.strictEqual(deleted, false);
    assert.strictEqual(api.errors.length, before + 1);
    const folder = vscode.workspace.workspaceFolders![0].uri;
    assert.ok(await vscode.workspace.fs.stat(vscode.Uri.joinPath(folder, 'tiny.txt')));
  });
});

describe('RNN Lab: the walkthrough experiments', () => {
  it('Run Example copies the example sweep config and the sample text into the workspace and trains its grid', async () => {
    const api = await activateExtension();
    const ids = await vscode.commands.executeCommand<string[]>('rnnLab.runExample', 'sigma', { steps: 3, hidden: 16, batch: 2, seqLength: 20, sweep: { hiddenScale: [0.5, 1.5] } });
    assert.strictEqual(ids?.length, 1);
    const runIds = await api.whenSweepDone(ids[0])!;
    assert.strictEqual(runIds.length, 2);
    const summaries = await Promise.all(runIds.map((id) => api.whenDone(id)!));
    assert.deepStrictEqual(summaries.map((s) => s.status), ['finished', 'finished']);
    const folder = vscode.workspace.workspaceFolders![0].uri;
    const cfg = JSON.parse(new TextDecoder().decode(await vscode.workspace.fs.readFile(vscode.Uri.joinPath(folder, '.rnn-lab', 'examples', 'sigma.rnn.json'))));
    assert.deepStrictEqual(cfg.sweep, { hiddenScale: [0.5, 1.5] });
    assert.strictEqual(cfg.hiddenInit, 'gaussian');
    const read = async (id: string, file: string) => new TextDecoder().decode(await vscode.workspace.fs.readFile(vscode.Uri.joinPath(api.store.runUri(id), file)));
    const big = (await Promise.all(runIds.map(async (id) => [id, JSON.parse(await read(id, 'sweep.json')).values.hiddenScale] as const))).find(([, v]) => v === 1.5)![0];
    assert.strictEqual(JSON.parse(await read(big, 'config.json')).hiddenScale, 1.5);
    // The first diagnostics record shows the chosen sigma_1 of W_hh (after one small update).
    const diag = (await read(big, 'diagnostics.jsonl')).split('\n')[0];
    const sigma = JSON.parse(diag).spectrum.find((s: { block: string }) => s.block === 'hh').sigma1;
    assert.ok(Math.abs(sigma - 1.5) < 0.2, `sigma_1 ${sigma}`);
  });
  it('refuses names that try to leave the examples folder', async () => {
    const ids = await vscode.commands.executeCommand<string[]>('rnnLab.runExample', '../../package');
    assert.deepStrictEqual(ids, []);
  });
});
