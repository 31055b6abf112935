// The smoke suite for a packaged extension: runs in the Node host (code-server) after
// `code-server --install-extension rnn-lab-<version>.vsix` (test/integration/runNode.mjs --vsix).
// The extension under development is an empty harness, so everything here exercises the
// installed copy: its manifest, its bundles, its worker, its media.
import { runMocha } from './suite/setup';
import * as assert from 'assert';
import * as vscode from 'vscode';
import type { RnnLabApi } from '../../src/extension/extension';
import type { MetricsRecord, RunSummary } from '../../src/protocol/config';
import { extensionId } from './suite/helpers';

const decoder = new TextDecoder();

describe('RNN Lab installed from its .vsix', () => {
  let ext: vscode.Extension<RnnLabApi>;
  let api: RnnLabApi;

  before(async () => {
    const found = vscode.extensions.getExtension<RnnLabApi>(extensionId);
    assert.ok(found, `${extensionId} is not installed`);
    ext = found;
    api = await ext.activate();
  });

  it('is the installed copy, not a development folder', () => {
    // code-server installs into <extensions dir>/<publisher>.<name>-<version>.
    assert.match(ext.extensionUri.path, /\/rnn-lab\.rnn-lab-\d+\.\d+\.\d+[^/]*$/, ext.extensionUri.toString());
    assert.strictEqual(ext.packageJSON.main, './dist/extension.js');
  });

  it('registers its commands', async () => {
    const commands = await vscode.commands.getCommands(true);
    for (const c of ['rnnLab.train', 'rnnLab.stopTraining', 'rnnLab.sample', 'rnnLab.deleteRun', 'rnnLab.runExample']) {
      assert.ok(commands.includes(c), `${c} is not registered`);
    }
  });

  it('Train RNN on the fixture config finishes, in the packaged worker, with its files written', async () => {
    const folder = vscode.workspace.workspaceFolders?.[0];
    assert.ok(folder, 'no workspace folder open');
    const runId = await vscode.commands.executeCommand<string>('rnnLab.train', vscode.Uri.joinPath(folder.uri, 'tiny.rnn.json'));
    assert.ok(runId, 'Train RNN returned no run id');
    const summary = (await api.whenDone(runId)) as RunSummary;
    assert.strictEqual(summary.status, 'finished', summary.message);
    assert.strictEqual(summary.step, 20);
    const metrics = decoder
      .decode(await vscode.workspace.fs.readFile(vscode.Uri.joinPath(api.store.runUri(runId), 'metrics.jsonl')))
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => JSON.parse(l) as MetricsRecord);
    assert.strictEqual(metrics.length, 20);
    assert.ok(metrics[19].loss < metrics[0].loss, `loss did not decrease: ${metrics[0].loss} -> ${metrics[19].loss}`);
    await vscode.commands.executeCommand('workbench.view.extension.rnnLab');
    await api.refreshRuns();
    assert.ok(api.runs.getRuns().some((r) => r.id === runId && r.status === 'finished'), 'the Runs view does not list the finished run');
    await new Promise((r) => setTimeout(r, 500));
    console.log('SCREENSHOT:vsix-smoke');
    console.log(`vsix smoke: ${runId} finished at step ${summary.step}, loss ${summary.loss?.toFixed(4)}`);
  });
});

export function run(): Promise<void> {
  return new Promise((resolve, reject) => {
    runMocha((failures) => (failures > 0 ? reject(new Error(`${failures} smoke test(s) failed`)) : resolve()));
  });
}
