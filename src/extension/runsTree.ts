import * as vscode from 'vscode';
import type { MetricsRecord } from '../protocol/config';
import { keptDescription } from '../runFolder/generation';
import { interruptedMessage } from '../runFolder/runFolder';
import type { RunStore, StoredRun } from './runStore';

/** One row of the Runs view. */
export interface RunItem {
  id: string;
  label: string;
  description?: string;
  status?: string;
  /** A folder added with Watch Run Folder... (its context menu adds Stop Watching). */
  watched?: boolean;
}

/** The "Runs" tree: a flat list of the run store's runs, newest first (RunsView fills it). */
export class RunsTreeProvider implements vscode.TreeDataProvider<RunItem> {
  private readonly changed = new vscode.EventEmitter<RunItem | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private items: RunItem[] = [];

  setRuns(items: RunItem[]): void {
    this.items = items;
    this.changed.fire(undefined);
  }

  getRuns(): readonly RunItem[] {
    return this.items;
  }

  getTreeItem(item: RunItem): vscode.TreeItem {
    const tree = new vscode.TreeItem(item.label, vscode.TreeItemCollapsibleState.None);
    tree.id = item.id;
    tree.description = item.description;
    tree.tooltip = `${item.id}\n${item.description ?? ''}`;
    tree.iconPath = new vscode.ThemeIcon(statusIcon(item.status));
    tree.contextValue = (item.status === 'running' ? 'run.running' : 'run') + (item.watched ? '.watched' : '');
    return tree;
  }

  getChildren(parent?: RunItem): RunItem[] {
    return parent ? [] : this.items;
  }
}

function statusIcon(status: string | undefined): string {
  switch (status) {
    case 'running':
      return 'sync~spin';
    case 'finished':
      return 'pass';
    case 'stopped':
      return 'debug-stop';
    case 'diverged':
      return 'warning';
    case 'failed':
      return 'error';
    default:
      return 'circle-outline';
  }
}

/**
 * The Runs view's content: the stored runs, with the latest metrics of the ones training in this
 * window (`lastOf`, from ActiveRuns). Refreshed on demand, and at most once a second while runs train.
 */
export class RunsView {
  readonly tree = new RunsTreeProvider();
  private timer: ReturnType<typeof setTimeout> | undefined;

  /** Run folders outside the store that are watched (WatchedRuns: Watch Run Folder...), listed first. */
  outside: () => StoredRun[] = () => [];

  constructor(
    private readonly store: RunStore,
    private readonly lastOf: (id: string) => MetricsRecord | undefined,
  ) {}

  async refresh(): Promise<void> {
    const outside = this.outside();
    const stored = [...outside, ...(await this.store.list())];
    this.tree.setRuns(stored.map((r, i) => ({ id: r.id, label: r.config?.name ?? r.id, description: describeRun(r, this.lastOf(r.id)), status: r.status, watched: i < outside.length })));
  }

  scheduleRefresh(): void {
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      void this.refresh();
    }, 1000);
  }
}

/**
 * "finished · LSTM 1x32 · loss 1.234 · bpc 1.780 · step 200 · 2026-11-23 17:05": a run in one line.
 * A stopped run says how much of it was kept: "stopped at step 1,840; checkpoint at step 1,800".
 */
export function describeRun(run: StoredRun, last?: MetricsRecord): string {
  const c = run.config;
  const s = run.summary;
  const kept = run.status === 'stopped' && s && (s.checkpointStep !== undefined || s.message === interruptedMessage) ? keptDescription(s.step, s.checkpointStep) : undefined;
  const parts: string[] = [kept ?? run.status];
  if (c) parts.push(`${c.cell.toUpperCase()} ${c.layers}x${c.hidden}`);
  const loss = run.summary?.loss ?? last?.loss;
  const bpc = run.summary?.bpc ?? last?.bpc;
  if (loss !== undefined) parts.push(`loss ${loss.toFixed(3)}`);
  if (bpc !== undefined) parts.push(`bpc ${bpc.toFixed(3)}`);
  const step = run.summary?.step ?? last?.step;
  if (step !== undefined && !kept) parts.push(`step ${step}`);
  const stamp = /^(\d{4})(\d{2})(\d{2})-(\d{2})(\d{2})/.exec(run.id);
  if (stamp) parts.push(`${stamp[1]}-${stamp[2]}-${stamp[3]} ${stamp[4]}:${stamp[5]}`);
  return parts.join(' · ');
}
