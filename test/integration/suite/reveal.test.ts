import * as assert from 'assert';
import * as vscode from 'vscode';
import type { RnnLabApi } from '../../../src/extension/extension';
import { activateExtension, waitFor } from './helpers';

// Train RNN shows what it started: the RNN Lab container opens on the Diagnostics view of the new
// run, and the editor the user trained from stays the active one; rnnLab.revealOnTrain turns it off.
describe('RNN Lab: starting a run reveals it', () => {
  let api: RnnLabApi;
  let folder: vscode.Uri;
  const settings = () => vscode.workspace.getConfiguration('rnnLab');

  const trainFromEditor = async (): Promise<string> => {
    const config = vscode.Uri.joinPath(folder, 'tiny.rnn.json');
    const editor = await vscode.window.showTextDocument(config);
    await vscode.commands.executeCommand('workbench.action.closeSidebar');
    await waitFor('the Diagnostics view to be hidden', () => (!api.diagnostics.isVisible ? true : undefined));
    const runId = await vscode.commands.executeCommand<string>('rnnLab.train', config);
    assert.ok(runId, api.errors.at(-1));
    assert.strictEqual(vscode.window.activeTextEditor?.document.uri.toString(), editor.document.uri.toString(), 'the editor trained from is no longer the active one');
    return runId;
  };

  before(async () => {
    api = await activateExtension();
    folder = vscode.workspace.workspaceFolders![0].uri;
  });

  after(async () => {
    await settings().update('revealOnTrain', undefined, vscode.ConfigurationTarget.Global);
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });

  it('Train RNN from a config opens the Diagnostics view on the new run, keeping the editor active', async () => {
    await settings().update('revealOnTrain', undefined, vscode.ConfigurationTarget.Global);
    const runId = await trainFromEditor();
    await waitFor('the Diagnostics view to show the new run', () => (api.diagnostics.isVisible && api.diagnostics.shownRuns.join() === runId ? true : undefined));
    await api.whenDone(runId);
    assert.strictEqual(vscode.window.activeTextEditor?.document.uri.path.split('/').pop(), 'tiny.rnn.json');
    console.log(`reveal: run ${runId} started with the sidebar closed; the Diagnostics view opened on it and tiny.rnn.json stayed the active editor`);
  });

  it('with rnnLab.revealOnTrain off, the container stays closed', async () => {
    await settings().update('revealOnTrain', false, vscode.ConfigurationTarget.Global);
    const runId = await trainFromEditor();
    await api.whenDone(runId);
    assert.strictEqual(api.diagnostics.isVisible, false, 'the Diagnostics view opened although rnnLab.revealOnTrain is off');
  });
});
