/**
 * The commands on a sweep's node in the Runs view: Stop Sweep (its training runs stop after their
 * current step, its queued ones are dropped), Continue Sweep (after a closed window or a Stop
 * Sweep: the grid's stopped and interrupted runs resume from their last checkpoint and the ones
 * never started start, under the same sweep) and Open Sweep Report (its runs overlaid in one
 * report, with the table of the varied fields against the final metrics).
 */
import * as vscode from 'vscode';
import { expandSweep } from '../../engine/sweep';
import type { RunStatus } from '../../protocol/config';
import { MAX_REPORT_RUNS } from '../reportPanel';
import type { Services } from '../services';
import { errorText } from '../feedback';
import type { QueuedRun } from '../sweeps';
import { feedSweepTable, isSweepId, sweepRuns } from '../sweepReport';
import { refuseUntrusted } from './trust';
import { readResumePoint, readRunData } from './resume';

type OpenReport = (ids: string[]) => Promise<{ panel: vscode.WebviewPanel; runIds: readonly string[] } | undefined>;

/** The sweep id a command was given: a Runs view node ({ sweepId }) or the id itself. */
function sweepIdIn(arg: unknown): string | undefined {
  const id = typeof arg === 'string' ? arg : (arg as { sweepId?: unknown } | undefined)?.sweepId;
  return isSweepId(id) ? id : undefined;
}

/** A grid point whose newest run ended this way is not run again by Continue Sweep. */
const ENDED: readonly RunStatus[] = ['finished', 'diverged', 'failed'];

export function registerSweepCommands(s: Services, openReport: OpenReport): void {
  /** The user's pick among the stored sweeps (newest first). */
  const pickSweep = async (title: string): Promise<string | undefined> => {
    const seen = new Map<string, string>();
    for (const r of await s.store.list()) if (r.sweep && !seen.has(r.sweep.id)) seen.set(r.sweep.id, r.sweep.name);
    const pick = await vscode.window.showQuickPick(
      [...seen].map(([id, name]) => ({ label: name, description: id, id })),
      { title, placeHolder: seen.size ? undefined : 'No sweep yet: train a run config with a "sweep" field' },
    );
    return pick?.id;
  };

  const openSweepReport = async (arg?: unknown): Promise<string | undefined> => {
    const sweepId = arg === undefined ? await pickSweep('RNN Lab: report of which sweep?') : sweepIdIn(arg);
    if (arg === undefined && sweepId === undefined) return undefined;
    const runs = sweepId ? await sweepRuns(s.store, sweepId) : [];
    if (!sweepId || !runs.length) {
      void s.feedback.error(`RNN Lab: no sweep ${JSON.stringify(String(sweepId ?? arg ?? '')).slice(0, 80)} with runs in the Runs view. Pick a sweep's node there.`);
      return undefined;
    }
    if (runs.length > MAX_REPORT_RUNS) s.feedback.log(`sweep ${sweepId}: the report overlays the first ${MAX_REPORT_RUNS} of its ${runs.length} runs; the table lists them all`);
    const report = await openReport(runs.slice(0, MAX_REPORT_RUNS).map((r) => r.id));
    if (!report) return undefined;
    report.panel.title = `Sweep: ${runs[0].sweep!.name}`;
    feedSweepTable(report.panel, s.store, sweepId, (m) => s.feedback.log(m));
    return sweepId;
  };

  /** Resolves with the sweep's id once the rest of its grid is queued; undefined after one message saying why not. */
  const continueSweep = async (arg?: unknown): Promise<string | undefined> => {
    if (refuseUntrusted(s.feedback, 'training')) return undefined;
    const sweepId = arg === undefined ? await pickSweep('RNN Lab: continue which sweep?') : sweepIdIn(arg);
    if (arg === undefined && sweepId === undefined) return undefined;
    const fail = (message: string): undefined => {
      void s.feedback.error(`RNN Lab: cannot continue sweep ${sweepId ?? JSON.stringify(String(arg)).slice(0, 80)}: ${message}`);
      return undefined;
    };
    if (!sweepId) return fail("pick a sweep's node in the Runs view.");
    if (s.sweeps.isActive(sweepId)) return fail('it still has runs training or queued in this window.');
    const runs = (await s.picker.list()).filter((r) => r.sweep?.id === sweepId);
    if (!runs.length) return fail('none of its runs is in the Runs view.');
    if (runs.some((r) => r.status === 'running')) return fail('one of its runs is still training.');
    const source = runs.find((r) => r.sweep!.source)?.sweep!.source;
    if (!source) return fail('its runs do not record the sweep config (they were made by rnn-lab train or an older version). Train the sweep config again.');
    let grid;
    try {
      grid = expandSweep(source, `sweep ${sweepId}`);
    } catch (e) {
      return fail(`its sweep config no longer makes a grid: ${errorText(e)}`);
    }
    const member0 = runs[0].sweep!;
    const total = grid.runs.length;
    if (total !== member0.total || runs.some((r) => JSON.stringify(grid.runs[r.sweep!.index]?.values) !== JSON.stringify(r.sweep!.values))) {
      return fail(`its sweep config makes a grid of ${total} runs that does not match its runs' values. Train the sweep config again.`);
    }
    // The newest run of each grid point (ids begin with their start time): the one to go on from.
    const newest = new Map<number, (typeof runs)[number]>();
    for (const r of runs) {
      const seen = newest.get(r.sweep!.index);
      if (!seen || r.id > seen.id) newest.set(r.sweep!.index, r);
    }
    const pending: QueuedRun[] = [];
    const skipped: string[] = [];
    for (let index = 0; index < total; index++) {
      const member = { id: sweepId, name: member0.name, index, total, values: grid.runs[index].values, source };
      const run = newest.get(index);
      if (!run) {
        pending.push({ config: grid.runs[index].config, member });
        continue;
      }
      if (ENDED.includes(run.status) || !run.config) continue;
      const point = await readResumePoint(run);
      if ('error' in point) {
        skipped.push(`${run.id}: ${point.error}`);
        continue;
      }
      if (point.step >= run.config.steps) continue;
      pending.push({ config: run.config, member, ...(point.resume ? { resume: point.resume } : {}) });
    }
    for (const why of skipped) s.feedback.log(`sweep ${sweepId}: not continued: ${why}`);
    if (!pending.length) {
      void vscode.window.showInformationMessage(`RNN Lab: every run of sweep ${member0.name} has ended${skipped.length ? ` (${skipped.length} cannot be resumed; see the output)` : ''}.`);
      return undefined;
    }
    const dataText = await readRunData(s, pending[0].config, `sweep ${sweepId}`, fail);
    if (dataText === undefined) return undefined;
    await s.sweeps.continue(sweepId, pending, dataText);
    return sweepId;
  };

  s.context.subscriptions.push(
    vscode.commands.registerCommand('rnnLab.openSweepReport', openSweepReport),
    vscode.commands.registerCommand('rnnLab.continueSweep', continueSweep),
    vscode.commands.registerCommand('rnnLab.stopSweep', (arg?: unknown) => {
      const sweepId = sweepIdIn(arg);
      if (!s.sweeps.stop(sweepId)) void vscode.window.showInformationMessage('RNN Lab: no run of that sweep is training or queued.');
    }),
  );
}
