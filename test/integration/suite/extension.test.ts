import * as assert from 'assert';
import * as vscode from 'vscode';
import type { RnnLabApi } from '../../../src/extension/extension';
import { activateExtension, screenshot, waitFor } from './helpers';

describe('RNN Lab extension', () => {
  let api: RnnLabApi;

  before(async () => {
    api = await activateExtension();
  });

  it('activates and returns its test API', () => {
    assert.ok(api, 'activate() returned nothing');
    assert.ok(api.runs, 'API has no runs tree');
    assert.ok(api.diagnostics, 'API has no diagnostics view');
  });

  it('registers the rnnLab.train command', async () => {
    const commands = await vscode.commands.getCommands(true);
    assert.ok(commands.includes('rnnLab.train'), 'rnnLab.train is not registered');
  });

  it('sees the fixture workspace through vscode.workspace.fs', async () => {
    const folder = vscode.workspace.workspaceFolders?.[0];
    assert.ok(folder, 'no workspace folder open');
    const configs = await vscode.workspace.findFiles('**/*.rnn.json');
    assert.deepStrictEqual(configs.map((u) => u.path.split('/').pop()).sort(), ['bad.rnn.json', 'long.rnn.json', 'tiny.rnn.json']);
    const text = new TextDecoder().decode(await vscode.workspace.fs.readFile(vscode.Uri.joinPath(folder.uri, 'tiny.txt')));
    assert.ok(text.startsWith('It is a truth universally acknowledged'), `unexpected tiny.txt: ${text.slice(0, 40)}`);
  });

  it('opens the RNN Lab container with the Runs tree and the Diagnostics webview', async () => {
    const readyBefore = api.diagnostics.timesReady;
    await vscode.commands.executeCommand('workbench.view.extension.rnnLab');
    // The webview view is created lazily when shown; its page posts "ready" once its script ran.
    await waitFor('the Diagnostics webview to post "ready"', () =>
      api.diagnostics.timesReady > readyBefore ? true : undefined,
    );
    assert.ok(api.diagnostics.isResolved);
    await screenshot('workbench-rnn-lab');
  });

  it('runs the train command from the palette (quick pick, dismissed) without throwing', async () => {
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    const result = vscode.commands.executeCommand('rnnLab.train');
    await new Promise((r) => setTimeout(r, 1000));
    await vscode.commands.executeCommand('workbench.action.closeQuickOpen');
    assert.strictEqual(await result, undefined);
  });
});
