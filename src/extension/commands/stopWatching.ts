/**
 * RNN Lab: Stop Watching (the context menu of a folder added with Watch Run Folder...): the folder
 * is no longer watched, listed or remembered; its files are left as they are.
 * Programmatic: stopWatching(id | { id }) returns whether a folder was forgotten.
 */
import * as vscode from 'vscode';
import { idIn } from '../runPicker';
import type { Services } from '../services';

export function registerStopWatching(s: Services): void {
  const stopWatching = async (arg?: unknown): Promise<boolean> => {
    let id = idIn(arg);
    if (id === undefined) {
      const folders = s.watched.outsideRuns();
      if (!folders.length) {
        void vscode.window.showInformationMessage('RNN Lab: no folder is watched. Add one with "RNN Lab: Watch Run Folder...".');
        return false;
      }
      id = (await s.picker.quickPick(folders, 'RNN Lab: stop watching which folder?', false))[0]?.id;
      if (id === undefined) return false;
    }
    if (!(await s.watched.forget(id))) {
      void s.feedback.error(`RNN Lab: ${JSON.stringify(id.slice(0, 80))} is not a watched folder: Stop Watching forgets folders added with "RNN Lab: Watch Run Folder...".`);
      return false;
    }
    s.feedback.log(`run folder ${id} no longer watched`);
    await s.runsView.refresh();
    return true;
  };
  s.context.subscriptions.push(vscode.commands.registerCommand('rnnLab.stopWatching', (arg?: unknown) => stopWatching(arg)));
}
