import * as vscode from 'vscode';
import type { MetricsRecord, SweepMember } from '../protocol/config';
import { sweepLabel } from '../engine/sweep';
import { keptDescription } from '../runFolder/generation';
import { interruptedMessage } from '../runFolder/runFolder';
import type { RunStore, StoredRun } from './runStore';

/** One row of the Runs view: a run, a sweep (its runs as children) or a sweep's queued run. */
export interface RunItem {
  id: string;
  label: string;
  description?: string;
  /**
   * A run's status, 'queued' for a sweep's run not started yet; a sweep's node: 'sweep.running'
   * while runs of it train or wait, 'sweep.unfinished' when some stopped or never started, else 'sweep'.
   */
  status?: string;
  /** A folder added with Watch Run Folder... (its context menu adds Stop Watching). */
  watched?: boolean;
  /** A sweep node: its id, and its runs (started ones and queued ones) in grid order. */
  sweepId?: string;
  children?: RunItem[];
}

/** The "Runs" tree: the run store's runs newest first, a sweep's runs under one node (RunsView fills it). */
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
    const tree = new vscode.TreeItem(item.label, item.children ? vscode.TreeItemCollapsibleState.Expanded : vscode.TreeItemCollapsibleState.None);
    tree.id = item.id;
    tree.description = item.description;
    tree.tooltip = `${item.id}\n${item.description ?? ''}`;
    tree.iconPath = new vscode.ThemeIcon(statusIcon(item.status));
    tree.contextValue = item.children ? (item.status ?? 'sweep') : item.status === 'queued' ? 'queued' : (item.status === 'running' ? 'run.running' : 'run') + (item.watched ? '.watched' : '');
    return tree;
  }

  getChildren(parent?: RunItem): RunItem[] {
    return parent ? (parent.children ?? []) : this.items;
  }

  getParent(item: RunItem): RunItem | undefined {
    return this.items.find((i) => i.children?.includes(item));
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
    case 'queued':
      return 'clock';
    case 'sweep':
    case 'sweep.unfinished':
      return 'layers';
    case 'sweep.running':
      return 'layers-active';
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
  /** Sweep runs waiting to start in this window (Sweeps), listed under their sweep. */
  queued: () => readonly { member: SweepMember }[] = () => [];

  constructor(
    private readonly store: RunStore,
    private readonly lastOf: (id: string) => MetricsRecord | undefined,
  ) {}

  async refresh(): Promise<void> {
    const outside = this.outside();
    const stored = [...outside, ...(await this.store.list())];
    const watched = new Set(outside.map((r) => r.id));
    this.tree.setRuns(groupSweeps(stored, this.queued(), (r) => ({ id: r.id, label: r.config?.name ?? r.id, description: describeRun(r, this.lastOf(r.id)), status: r.status, watched: watched.has(r.id) })));
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

/**
 * The Runs view's rows: runs of one sweep under one node, where its newest run would be (a sweep
 * with only queued runs first), each labelled with its values ("hiddenScale=0.5 cell=rnn") and
 * listed in grid order; the node says how far the sweep is ("3 of 6 done · 2 training · 1 queued").
 * Runs never started (a window closed with runs still queued) are counted as "not started".
 */
export function groupSweeps(runs: readonly StoredRun[], queued: readonly { member: SweepMember }[], item: (r: StoredRun) => RunItem): RunItem[] {
  const out: RunItem[] = [];
  const nodes = new Map<string, { node: RunItem; members: { index: number; item: RunItem }[]; total: number; name: string }>();
  const nodeOf = (m: SweepMember, atTop: boolean) => {
    let g = nodes.get(m.id);
    if (!g) {
      g = { node: { id: `sweep:${m.id}`, label: m.name, status: 'sweep', sweepId: m.id, children: [] }, members: [], total: m.total, name: m.name };
      nodes.set(m.id, g);
      if (atTop) out.unshift(g.node);
      else out.push(g.node);
    }
    return g;
  };
  for (const r of runs) {
    if (!r.sweep) {
      out.push(item(r));
      continue;
    }
    const it = item(r);
    nodeOf(r.sweep, false).members.push({ index: r.sweep.index, item: { ...it, label: sweepLabel(r.sweep.values) || it.label } });
  }
  for (const q of queued) {
    const m = q.member;
    nodeOf(m, true).members.push({ index: m.index, item: { id: `queued:${m.id}:${m.index}`, label: sweepLabel(m.values), description: `queued · ${m.index + 1} of ${m.total}`, status: 'queued' } });
  }
  for (const g of nodes.values()) {
    // A grid point resumed (Resume Run, Continue Sweep) has several runs, listed oldest first; its newest says where it is.
    g.members.sort((a, b) => a.index - b.index || a.item.id.localeCompare(b.item.id));
    g.node.children = g.members.map((m) => m.item);
    const newest = new Map<number, string | undefined>();
    for (const m of g.members) newest.set(m.index, m.item.status);
    const count = (...st: string[]) => [...newest.values()].filter((s) => st.includes(s ?? '')).length;
    const training = count('running');
    const waiting = count('queued');
    const halted = count('interrupted', 'stopped');
    const done = newest.size - training - waiting - halted;
    const parts = [`${done} of ${g.total} done`];
    if (training) parts.push(`${training} training`);
    if (waiting) parts.push(`${waiting} queued`);
    if (halted) parts.push(`${halted} stopped`);
    const missing = g.total - newest.size;
    if (missing > 0) parts.push(`${missing} not started`);
    g.node.description = parts.join(' · ');
    // 'sweep.unfinished': Continue Sweep has runs to resume or start.
    g.node.status = training || waiting ? 'sweep.running' : halted || missing > 0 ? 'sweep.unfinished' : 'sweep';
  }
  return out;
}
