/**
 * A sweep's report: the table of its runs (the varied fields against the final metrics) that the
 * report page draws above the overlaid charts, kept current while the sweep trains. Used when the
 * report opens (commands/sweep.ts) and when a window reload restores it (reportPanel.ts).
 */
import type * as vscode from 'vscode';
import type { SweepTableRow } from '../protocol/config';
import { readSweepRow } from '../runFolder/sweepTable';
import { errorText } from './feedback';
import type { RunStore } from './runStore';

/** The stored runs of a sweep, in grid order (a run and its resumptions by age). */
export async function sweepRuns(store: RunStore, sweepId: string) {
  return (await store.list()).filter((r) => r.sweep?.id === sweepId).sort((a, b) => a.sweep!.index - b.sweep!.index || a.id.localeCompare(b.id));
}

/** The table of a sweep's stored runs, as the report shows it. */
export async function sweepTable(store: RunStore, sweepId: string): Promise<{ sweepId: string; name: string; keys: string[]; rows: SweepTableRow[] } | undefined> {
  const runs = await sweepRuns(store, sweepId);
  if (!runs.length) return undefined;
  const rows = await Promise.all(runs.map((r) => readSweepRow(store.fs, { id: r.id, sweep: r.sweep!, status: r.status, summary: r.summary })));
  return { sweepId, name: runs[0].sweep!.name, keys: Object.keys(runs[0].sweep!.values), rows };
}

/**
 * Keeps a report's sweep table current: sent when the page says it is ready and whenever a run of
 * the store is created or ends (a queued run starting, a run finishing), at most every 100 ms.
 */
export function feedSweepTable(panel: vscode.WebviewPanel, store: RunStore, sweepId: string, log: (m: string) => void): void {
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

/** A sweep id as a command or a page's saved state gives it (checked: the state is the page's). */
export function isSweepId(id: unknown): id is string {
  return typeof id === 'string' && /^[\w.-]{1,200}$/.test(id);
}
