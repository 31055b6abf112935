/**
 * RNN Lab: Continue in PyTorch (a run's context menu): the run's last checkpoint generation as a
 * PyTorch project (src/pytorch/export.ts, as `rnn-lab export-pytorch` writes it) in a folder the
 * user picks. RNN Lab: Watch Run Folder...: a run folder another process writes (train.py of such
 * a project, rnnlab_logger.py, a synced remote run) shown live (WatchedRuns).
 * Programmatic: continueInPytorch({ id, folder: Uri }) writes into folder/<run id>-pytorch without
 * a dialog; watchRunFolder(uri) watches that folder.
 */
import * as vscode from 'vscode';
import { resolveDataPath } from '../../engine/config';
import { isSeq2SeqTask } from '../../protocol/config';
import { pytorchProject, readRunForExport } from '../../pytorch/export';
import { runFiles, runPath } from '../../runFolder/runFolder';
import { errorText } from '../feedback';
import type { Services } from '../services';
import type { WatchedRuns } from '../watchedRuns';
import { exists } from '../workspaceRunFs';
import { loadDataFile } from './dataFile';

export function registerPytorch(s: Services, watched: WatchedRuns): void {
  const { feedback } = s;
  const continueInPytorch = async (arg?: unknown): Promise<vscode.Uri | undefined> => {
    const run = await s.picker.pick(arg, 'Continue which run in PyTorch?', (r) => r.config !== undefined);
    if (!run?.config) return undefined;
    const fail = (message: string): undefined => {
      void feedback.error(`RNN Lab: cannot continue run ${run.id} in PyTorch: ${message}`);
      return undefined;
    };
    const given = typeof arg === 'object' && arg !== null ? (arg as { folder?: unknown }).folder : undefined;
    let parent = given instanceof vscode.Uri ? given : undefined;
    if (!parent) {
      const picked = await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, canSelectMany: false, openLabel: 'Export PyTorch project here', title: `RNN Lab: where should the PyTorch project of ${run.config.name} go?` });
      if (!picked?.[0]) return undefined;
      parent = picked[0];
    }
    const target = vscode.Uri.joinPath(parent, `${run.id}-pytorch`);
    if (await exists(target)) return fail(`${target.fsPath || target.toString()} already exists; pick another folder (an export never overwrites one).`);
    try {
      const read = await readRunForExport(run.fs, run.dir, run.id);
      // A generated seq2seq task has no data file: the project's data.py draws its examples.
      const generated = isSeq2SeqTask(read.config.task) && read.config.task !== 'seq2seq';
      const folder = vscode.workspace.workspaceFolders?.[0];
      if (!folder && !generated) return fail('its data file is read from the workspace folder; open it first.');
      const dataUri = folder && !generated ? vscode.Uri.joinPath(folder.uri, resolveDataPath('', read.config.data, runPath(run.id, runFiles.config))) : undefined;
      const data = dataUri ? new TextEncoder().encode(await loadDataFile(dataUri, read.config.data, read.config.maxFileBytes)) : new Uint8Array(0);
      const source = run.uri;
      const { files } = pytorchProject({ ...read, source: source.scheme === 'file' ? source.fsPath : source.toString(), dataName: dataUri?.path.split('/').pop() ?? '', data });
      for (const [name, content] of Object.entries(files)) {
        await vscode.workspace.fs.writeFile(vscode.Uri.joinPath(target, ...name.split('/')), typeof content === 'string' ? new TextEncoder().encode(content) : content);
      }
    } catch (e) {
      await vscode.workspace.fs.delete(target, { recursive: true, useTrash: false }).then(undefined, () => {});
      return fail(errorText(e));
    }
    if (!(given instanceof vscode.Uri)) {
      void vscode.window.showInformationMessage(`RNN Lab: PyTorch project written to ${target.fsPath || target.toString()}. Run "python train.py --steps N" there; RNN Lab shows its run folder live.`, 'Open README').then((a) => {
        if (a) void vscode.commands.executeCommand('markdown.showPreview', vscode.Uri.joinPath(target, 'README.md'));
      });
    }
    return target;
  };
  const watchRunFolder = async (arg?: unknown): Promise<string | undefined> => {
    let uri = arg instanceof vscode.Uri ? arg : undefined;
    if (!uri) {
      const picked = await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, canSelectMany: false, openLabel: 'Watch', title: 'RNN Lab: watch which run folder? (one written by train.py, rnnlab_logger.py or rnn-lab train)' });
      if (!picked?.[0]) return undefined;
      uri = picked[0];
    }
    const added = await watched.addFolder(uri);
    if ('problem' in added) {
      void feedback.error(`RNN Lab: cannot watch ${uri.fsPath || uri.toString()}: ${added.problem}`);
      return undefined;
    }
    await s.runsView.refresh();
    await s.diagnostics.showRun(added.id);
    return added.id;
  };
  s.context.subscriptions.push(
    vscode.commands.registerCommand('rnnLab.continueInPytorch', (arg?: unknown) => continueInPytorch(arg)),
    vscode.commands.registerCommand('rnnLab.watchRunFolder', (arg?: unknown) => watchRunFolder(arg)),
  );
}
