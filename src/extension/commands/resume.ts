/**
 * Resume Run: a stopped, interrupted or finished run carries on exactly where its last checkpoint
 * generation left it (weights, optimizer moments, RNG and data position from resume.safetensors)
 * as a new run, so the old run's records and checkpoint are never touched; only temp files a
 * killed writer left in it are removed (none while a CLI process holds its writer.lock). Its records start at the checkpoint's step + 1: overlaid
 * in a report they continue the old curve. A run interrupted before its first checkpoint starts
 * again from step 0. Programmatic: { id, steps }.
 */
import * as vscode from 'vscode';
import { resolveDataPath } from '../../engine/config';
import { usesDataFile } from '../../protocol/config';
import { readGeneration, removeStaleTemps } from '../../runFolder/generation';
import { runFiles, runPath } from '../../runFolder/runFolder';
import { errorText } from '../feedback';
import type { Services } from '../services';
import { readDataFile } from './dataFile';
import { refuseUntrusted } from './trust';

export function registerResume(s: Services): void {
  const { feedback, store } = s;
  const resumeRun = async (arg?: unknown): Promise<string | undefined> => {
    if (refuseUntrusted(feedback, 'training')) return undefined;
    const run = await s.picker.pick(arg, 'Resume which run?', (r) => r.status !== 'running' && r.config !== undefined);
    if (!run?.config) return undefined;
    const fail = (message: string): undefined => {
      void feedback.error(`RNN Lab: cannot resume run ${run.id}: ${message}`);
      return undefined;
    };
    let stored;
    try {
      // A CLI process training the run holds writer.lock: its temp files are live, not stale.
      if (!(await store.fs.exists(runPath(run.id, runFiles.writerLock)))) await removeStaleTemps(store.fs, run.id);
      stored = await readGeneration(store.fs, run.id);
    } catch (e) {
      return fail(errorText(e));
    }
    if (stored.kind === 'broken') return fail(`${stored.reason}. Train a new run instead.`);
    if (stored.kind === 'model') return fail(`it has no ${runFiles.resume} (imported runs and runs of older versions have no optimizer state). Train a new run instead.`);
    const step = stored.kind === 'resumable' ? stored.step : 0;
    const given = typeof arg === 'object' && arg !== null && !(arg instanceof vscode.Uri) ? (arg as { steps?: unknown }).steps : undefined;
    let steps = typeof given === 'number' ? given : run.config.steps > step ? run.config.steps : undefined;
    if (steps === undefined) {
      const answer = await vscode.window.showInputBox({
        title: `RNN Lab: resume ${run.config.name} from step ${step}`,
        prompt: 'Train until which step?',
        value: String(step * 2),
        validateInput: (v) => (/^\d+$/.test(v.trim()) && Number(v) > step ? undefined : `a whole number above ${step}`),
      });
      if (answer === undefined) return undefined;
      steps = Number(answer);
    }
    if (!Number.isInteger(steps) || steps <= step) return fail(`it is at step ${step}; the steps to train until must be above that (got ${steps}).`);
    let dataText = '';
    // A generated seq2seq task makes its data from the seed: only the other kinds read a file.
    if (usesDataFile(run.config)) {
      const folder = vscode.workspace.workspaceFolders?.[0];
      if (!folder) return fail('its data file is read from the workspace folder; open it first.');
      let dataUri: vscode.Uri;
      try {
        dataUri = vscode.Uri.joinPath(folder.uri, resolveDataPath('', run.config.data, runPath(run.id, runFiles.config)));
      } catch (e) {
        return fail(errorText(e));
      }
      const read = await readDataFile(feedback, dataUri, run.config.maxFileBytes, run.config.data);
      if (read === undefined) return undefined;
      dataText = read;
    }
    // The worker checks the rest (the same data, the same model, the resume file's step) before
    // it trains, and ends the run as failed with the reason if anything differs.
    if (stored.kind === 'none') return s.runs.start({ ...run.config, steps }, dataText);
    return s.runs.start({ ...run.config, steps }, dataText, { checkpoint: stored.model, state: stored.state, where: run.id, fromRun: run.id, step });
  };
  s.context.subscriptions.push(vscode.commands.registerCommand('rnnLab.resumeRun', (arg?: unknown) => resumeRun(arg)));
}
