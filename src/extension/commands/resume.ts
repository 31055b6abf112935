/**
 * Resume Run: a stopped, interrupted or finished run carries on exactly where its last checkpoint
 * generation left it (weights, optimizer moments, RNG and data position from resume.safetensors)
 * as a new run, so the old run's records and checkpoint are never touched; only temp files a
 * killed writer left in it are removed (none while a CLI process holds its writer.lock). Its
 * records start at the checkpoint's step + 1: overlaid in a report they continue the old curve. A
 * run interrupted before its first checkpoint starts again from step 0. A sweep's run stays in its
 * sweep. Programmatic: { id, steps }.
 *
 * readResumePoint and readRunData are the two halves Continue Sweep (commands/sweep.ts) shares.
 */
import * as vscode from 'vscode';
import { resolveDataPath } from '../../engine/config';
import { usesDataFile, type RunConfig } from '../../protocol/config';
import { readGeneration, removeStaleTemps } from '../../runFolder/generation';
import { runFiles, runPath } from '../../runFolder/runFolder';
import type { ResumeStart } from '../activeRuns';
import { errorText } from '../feedback';
import type { PickedRun } from '../runPicker';
import type { Services } from '../services';
import { readDataFile } from './dataFile';
import { refuseUntrusted } from './trust';

/** Where a saved run goes on from: its last generation (step 0 and no generation: it starts again). */
export type ResumePoint = { step: number; resume?: ResumeStart } | { error: string };

export async function readResumePoint(run: PickedRun): Promise<ResumePoint> {
  let stored;
  try {
    // A CLI process training the run holds writer.lock: its temp files are live, not stale.
    if (!(await run.fs.exists(runPath(run.dir, runFiles.writerLock)))) await removeStaleTemps(run.fs, run.dir);
    stored = await readGeneration(run.fs, run.dir, run.id);
  } catch (e) {
    return { error: errorText(e) };
  }
  if (stored.kind === 'broken') return { error: `${stored.reason}. Train a new run instead.` };
  if (stored.kind === 'model') return { error: `it has no ${runFiles.resume} (imported runs and runs of older versions have no optimizer state). Train a new run instead.` };
  if (stored.kind === 'none') return { step: 0 };
  return { step: stored.step, resume: { checkpoint: stored.model, state: stored.state, where: run.id, fromRun: run.id, step: stored.step } };
}

/**
 * The data a run of `config` trains on, read from the workspace folder ('' for a generated task);
 * undefined once the user was told why not. `where` names the config in messages.
 */
export async function readRunData(s: Services, config: RunConfig, where: string, fail: (message: string) => undefined): Promise<string | undefined> {
  // A generated seq2seq task makes its data from the seed: only the other kinds read a file.
  if (!usesDataFile(config)) return '';
  const folder = vscode.workspace.workspaceFolders?.[0];
  if (!folder) return fail('its data file is read from the workspace folder; open it first.');
  let dataUri: vscode.Uri;
  try {
    dataUri = vscode.Uri.joinPath(folder.uri, resolveDataPath('', config.data, where));
  } catch (e) {
    return fail(errorText(e));
  }
  return readDataFile(s.feedback, dataUri, config.maxFileBytes, config.data);
}

export function registerResume(s: Services): void {
  const { feedback } = s;
  const resumeRun = async (arg?: unknown): Promise<string | undefined> => {
    if (refuseUntrusted(feedback, 'training')) return undefined;
    const run = await s.picker.pick(arg, 'Resume which run?', (r) => r.status !== 'running' && r.config !== undefined, 'resume');
    if (!run?.config) return undefined;
    // A watched folder's writer may start again after a quiet spell: checked once more here.
    if (s.picker.growing(run.id)) return void feedback.error(s.picker.stillWritten(run.id, 'resume'));
    const fail = (message: string): undefined => {
      void feedback.error(`RNN Lab: cannot resume run ${run.id}: ${message}`);
      return undefined;
    };
    const point = await readResumePoint(run);
    if ('error' in point) return fail(point.error);
    const { step } = point;
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
    const dataText = await readRunData(s, run.config, runPath(run.id, runFiles.config), fail);
    if (dataText === undefined) return undefined;
    // The worker checks the rest (the same data, the same model, the resume file's step) before
    // it trains, and ends the run as failed with the reason if anything differs.
    return s.runs.start({ ...run.config, steps }, dataText, point.resume, run.sweep);
  };
  s.context.subscriptions.push(vscode.commands.registerCommand('rnnLab.resumeRun', (arg?: unknown) => resumeRun(arg)));
}
