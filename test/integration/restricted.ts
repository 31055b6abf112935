// Restricted Mode (an untrusted workspace): package.json declares untrustedWorkspaces "limited",
// and the extension then lists stored runs but reads no run config or data file and trains,
// samples or runs examples never. Run by runNode.mjs in a code-server window whose folder is not
// trusted (workspace trust on, nothing trusted yet).
import { runMocha } from './suite/setup';
import * as assert from 'assert';
import * as vscode from 'vscode';
import { activateExtension } from './suite/helpers';

describe('RNN Lab in Restricted Mode (untrusted workspace)', () => {
  it('is active but refuses to train, sample or run examples, with one message each, and creates no run', async () => {
    assert.strictEqual(vscode.workspace.isTrusted, false, 'the workspace is trusted: the runner did not open it in Restricted Mode');
    const folder = vscode.workspace.workspaceFolders?.[0];
    assert.ok(folder, 'no folder open');
    const api = await activateExtension();
    const before = (await api.store.list()).length;
    const errors = api.errors.length;

    const trained = await vscode.commands.executeCommand<string | undefined>('rnnLab.train', vscode.Uri.joinPath(folder.uri, 'tiny.rnn.json'));
    assert.strictEqual(trained, undefined);
    const sampled = await vscode.commands.executeCommand<string | undefined>('rnnLab.sample', { id: '20261123-000000-any', temperature: 1, length: 10, prime: 'a' });
    assert.strictEqual(sampled, undefined);
    const examples = await vscode.commands.executeCommand<string[]>('rnnLab.runExample', 'vanilla-vs-lstm-vs-gru');
    assert.deepStrictEqual(examples, []);
    const translated = await vscode.commands.executeCommand<unknown>('rnnLab.translateSelection', { id: '20261123-000000-any' });
    assert.strictEqual(translated, undefined);

    const said = api.errors.slice(errors);
    assert.strictEqual(said.length, 4, said.join(' | '));
    for (const [i, what] of ['training', 'sampling', 'running the examples', 'translating with a checkpoint'].entries()) {
      assert.match(said[i], new RegExp(`^RNN Lab: ${what} is off in Restricted Mode: this workspace is not trusted\\. Trust it`));
    }
    assert.strictEqual((await api.store.list()).length, before, 'a run was created in Restricted Mode');
    assert.deepStrictEqual(api.activeRuns(), []);
    console.log(`restricted mode: train, sample, examples and translate refused (${said.length} messages), no run created, no worker started (${api.workerCounts().started})`);
    assert.strictEqual(api.workerCounts().started, 0);
  });
});

export function run(): Promise<void> {
  return new Promise((resolve, reject) => {
    runMocha((failures) => (failures > 0 ? reject(new Error(`${failures} restricted-mode test(s) failed`)) : resolve()));
  });
}
