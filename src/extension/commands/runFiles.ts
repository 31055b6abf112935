/** Stop Training and Delete Run: the commands that end a run or its folder. */
import * as vscode from 'vscode';
import type { Services } from '../services';

export function registerStop(s: Services): void {
  s.context.subscriptions.push(
    vscode.commands.registerCommand('rnnLab.stopTraining', () => {
      // Queued sweep runs first, so no run starts in the place of one stopped.
      const dequeued = s.sweeps.stop();
      if (!s.runs.stopAll() && !dequeued) void vscode.window.showInformationMessage('RNN Lab: no run is training.');
    }),
  );
}

/** Delete Run: asks first (a modal), never while the run trains. `{ runId, confirmed: true }` skips the question for programmatic callers. */
export function registerDelete(s: Services): void {
  const deleteRun = async (arg?: unknown): Promise<boolean> => {
    const run = await s.picker.pick(arg, 'Delete which run?');
    if (!run) return false;
    if (s.runs.has(run.id)) {
      void s.feedback.error(`RNN Lab: ${run.id} is training; stop it before deleting it`);
      return false;
    }
    if (s.picker.growing(run.id)) {
      void s.feedback.error(s.picker.stillWritten(run.id, 'delete'));
      return false;
    }
    const confirmed = (arg as { confirmed?: boolean } | undefined)?.confirmed === true;
    if (!confirmed) {
      // A watched folder lies outside the run store: the question names where.
      const where = run.watched ? ` at ${run.uri.fsPath || run.uri.toString()}` : '';
      const answer = await vscode.window.showWarningMessage(`Delete run "${run.config?.name ?? run.id}" (${run.id})${where} and all its files?`, { modal: true }, 'Delete');
      if (answer !== 'Delete') return false;
    }
    if (s.picker.growing(run.id)) {
      void s.feedback.error(s.picker.stillWritten(run.id, 'delete'));
      return false;
    }
    await vscode.workspace.fs.delete(run.uri, { recursive: true, useTrash: false });
    if (run.watched) await s.watched.forget(run.id);
    s.feedback.log(`run ${run.id} deleted${run.watched ? ` (${run.uri.fsPath || run.uri.toString()})` : ''}`);
    await s.runsView.refresh();
    return true;
  };
  s.context.subscriptions.push(vscode.commands.registerCommand('rnnLab.deleteRun', (arg?: unknown) => deleteRun(arg)));
}
