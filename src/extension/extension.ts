import * as vscode from 'vscode';
import { RunsTreeProvider } from './runsTree';
import { DiagnosticsViewProvider } from './diagnosticsView';

/**
 * What activate() hands back. Integration tests reach the extension's state through this
 * (a test in the extension host cannot see the DOM of a view or webview).
 */
export interface RnnLabApi {
  readonly runs: RunsTreeProvider;
  readonly diagnostics: DiagnosticsViewProvider;
}

export function activate(context: vscode.ExtensionContext): RnnLabApi {
  const runs = new RunsTreeProvider();
  const diagnostics = new DiagnosticsViewProvider(context.extensionUri);

  context.subscriptions.push(
    vscode.window.registerTreeDataProvider('rnnLab.runs', runs),
    vscode.window.registerWebviewViewProvider(DiagnosticsViewProvider.viewId, diagnostics),
    vscode.commands.registerCommand('rnnLab.train', () => train()),
  );

  return { runs, diagnostics };
}

export function deactivate(): void {}

/** Placeholder until the training session and run store land: says what would be trained. */
async function train(): Promise<void> {
  const folder = vscode.workspace.workspaceFolders?.[0];
  if (!folder) {
    void vscode.window.showErrorMessage('RNN Lab: open a folder with a data file or a *.rnn.json run config first.');
    return;
  }
  const configs = await vscode.workspace.findFiles('**/*.rnn.json', '**/node_modules/**', 20);
  void vscode.window.showInformationMessage(
    `RNN Lab: found ${configs.length} run config(s) in ${folder.name}. Training is not wired up yet.`,
  );
}
