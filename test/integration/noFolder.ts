// The run store's fallback when no folder is open: runs go to the extension's global storage.
// Run by both runners in a window without a folder (run.mjs: VS Code for the web without a
// mount; runNode.mjs: code-server's empty window, where the runner also checks the disk).
import { runMocha } from './suite/setup';
import * as assert from 'assert';
import * as vscode from 'vscode';
import type { RunSummary } from '../../src/protocol/config';
import { activateExtension, hostKind } from './suite/helpers';

const encoder = new TextEncoder();

describe('RNN Lab with no folder open', () => {
  it('keeps runs in the extension\'s global storage and trains a config from there', async () => {
    // test-web opens an empty workspace (no folders), code-server an empty window (undefined).
    const folders = vscode.workspace.workspaceFolders;
    assert.ok(!folders?.length, `a folder is open: ${folders?.map((f) => f.uri.toString()).join(', ')}`);
    const api = await activateExtension();
    const root = api.store.root;
    // <user data>/User/globalStorage/<publisher>.<name>/runs, on disk (Node) or in the browser's storage (web).
    assert.match(root.path, /\/User\/globalStorage\/rnn-lab\.rnn-lab\/runs$/, root.toString());
    console.log(`no folder, ${hostKind} host: run store at ${root.toString()}`);

    // With no folder, a config and its data can still live anywhere the host can read; here next to the store.
    const inputs = vscode.Uri.joinPath(root, '..', 'inputs');
    await vscode.workspace.fs.createDirectory(inputs);
    await vscode.workspace.fs.writeFile(vscode.Uri.joinPath(inputs, 'tiny.txt'), encoder.encode('It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of a wife. '.repeat(4)));
    const config = { name: 'tiny-nofolder', task: 'charlm', data: 'tiny.txt', cell: 'gru', hidden: 8, seqLength: 8, batch: 2, steps: 10, lr: 0.01, seed: 3 };
    const configUri = vscode.Uri.joinPath(inputs, 'tiny-nofolder.rnn.json');
    await vscode.workspace.fs.writeFile(configUri, encoder.encode(JSON.stringify(config)));

    const runId = await vscode.commands.executeCommand<string>('rnnLab.train', configUri);
    assert.ok(runId && /^\d{8}-\d{6}-tiny-nofolder$/.test(runId), `run id ${runId}`);
    const summary = (await api.whenDone(runId)) as RunSummary;
    assert.strictEqual(summary.status, 'finished', summary.message);
    assert.strictEqual(summary.step, 10);
    const dir = api.store.runUri(runId);
    assert.strictEqual(dir.toString(), vscode.Uri.joinPath(root, runId).toString());
    const names = (await vscode.workspace.fs.readDirectory(dir)).map(([n]) => n).sort();
    assert.deepStrictEqual(names, ['checkpoint.safetensors', 'config.json', 'diagnostics.jsonl', 'metrics.jsonl', 'resume.safetensors', 'summary.json']);
    const listed = (await api.store.list()).find((r) => r.id === runId);
    assert.strictEqual(listed?.status, 'finished');
    await api.refreshRuns();
    assert.ok(api.runs.getRuns().some((r) => r.id === runId), 'the Runs view does not list the run');
  });
});

export function run(): Promise<void> {
  return new Promise((resolve, reject) => {
    runMocha((failures) => (failures > 0 ? reject(new Error(`${failures} no-folder test(s) failed`)) : resolve()));
  });
}
