/**
 * The commands on a sweep's node in the Runs view: Stop Sweep (its training runs stop after their
 * current step, its queued ones are dropped) and Open Sweep Report (its runs overlaid in one report,
 * with the table of the varied fields against the final metrics).
 */
import * as vscode from 'vscode';
import type { SweepTableRow } from '../../protocol/config';
import { MAX_REPORT_RUNS } from '../reportPanel';
import type { RunStore } from '../runStore';
import type { Services } from '../services';
import { readSweepRow } from '../../runFolder/sweepTable';
import { errorText } from '../feedback';

type OpenReport = (ids: string[]) => Promise<{ panel: vscode.WebviewPanel; runIds: readonly string[] } | undefined>;

/** The sweep id a command was given: a Runs view node ({ sweepId }) or the id itself. */
function sweepIdIn(arg: unknown): string | undefined {
  const id = typeof arg === 'string' ? arg : (arg as { sweepId?: unknown } | undefined)?.sweepId;
  return typeof id === 'string' && /^[\w.-]{1,200}$/.test(id) ? id : undefined;
}

/** The stored runs of a sweep, in grid order. */
async function sweepRuns(store: RunStore, sweepId: string) {
  return (await store.list()).filter((r) => r.sweep?.id === sweepId).sort((a, b) => a.sweep!.index - b.sweep!.index);
}

/** The table of a sweep's stored runs, as the report shows it. */
export async function sweepTable(store: RunStore, sweepId: string): Promise<{ name: string; keys: string[]; rows: SweepTableRow[] } | undefined> {
  const runs = await sweepRuns(store, sweepId);
  if (!runs.length) return undefined;
  const rows = await Promise.all(runs.map((r) => readSweepRow(store.fs, { id: r.id, sweep: r.sweep!, status: r.status, summary: r.summary })));
  return { name: runs[0].sweep!.name, keys: Object.keys(runs[0].sweep!.values), rows };
}

/**
 * Keeps a report's sweep table current: sent when the page says it is ready and whenever a run of
 * the store is created or ends (a queued run starting, a run finishing), at most every half second.
 */
function feedSweepTable(panel: vscode.WebviewPanel, store: RunStore, sweepId: string, log: (m: string) => void): void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const send = () => {
    timer ??= setTimeout(() => {
      timer = undefined;
      void sweepTable(store, sweepId)
        .then((t) => (t ? panel.webview.postMessage({ type: 'sweepTable', ...t }) : undefined))
        .catch((e) => log(`sweep ${sweepId}: table not sent: ${errorText(e)}`));
    }, 100);
  };
  const subs = [panel.webview.onDidReceiveMessage((m: { type?: unknown }) => (m?.type === 'ready' ? send() : undefined)), store.onDidChange(send)];
  panel.onDidDispose(() => {
    clearTimeout(timer);
    subs.forEach((d) => d.dispose());
  });
  send();
}

export function registerSweepCommands(s: Services, openReport: OpenReport): void {
  /** The user's pick among the stored sweeps (newest first). */
  const pickSweep = async (): Promise<string | undefined> => {
    const seen = new Map<string, string>();
    for (const r of await s.store.list()) if (r.sweep && !seen.has(r.sweep.id)) seen.set(r.sweep.id, r.sweep.name);
    const pick = await vscode.window.showQuickPick(
      [...seen].map(([id, name]) => ({ label: name, description: id, id })),
      { title: 'RNN Lab: report of which sweep?', placeHolder: seen.size ? undefined : 'No sweep yet: train a run config with a "sweep" field' },
    );
    return pick?.id;
  };

  const openSweepReport = async (arg?: unknown): Promise<string | undefined> => {
    const sweepId = arg === undefined ? await pickSweep() : sweepIdIn(arg);
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
  s.context.subscriptions.push(
    vscode.commands.registerCommand('rnnLab.openSweepReport', openSweepReport),
    vscode.commands.registerCommand('rnnLab.stopSweep', (arg?: unknown) => {
      const sweepId = sweepIdIn(arg);
      if (!s.sweeps.stop(sweepId)) void vscode.window.showInformationMessage('RNN Lab: no run of that sweep is training or queued.');
    }),
  );
}
