/**
 * Sweeps in the extension: a sweep config's grid (engine/sweep.ts, validated before this) trains as
 * separate ordinary runs, at most `concurrency` of this window's runs at once; the others wait here
 * in grid order and the Runs view lists them as queued. Each started run's folder gets sweep.json
 * (the sweep's id, name, size and the run's values), which is how the Runs view groups them.
 *
 * The queue lives in this window only. A window closed or reloaded mid-sweep leaves the finished
 * runs finished, the training ones interrupted and the queued ones never started; the sweep node
 * then counts them (its runs' sweep.json records the grid's size and the sweep config), and
 * Continue Sweep (commands/sweep.ts) queues the rest again under the same sweep: interrupted and
 * stopped runs resumed from their last checkpoint, the others started.
 */
import * as vscode from 'vscode';
import type { RunConfig, SweepMember } from '../protocol/config';
import type { ExpandedSweep } from '../engine/sweep';
import { runStamp, safeRunName } from '../runFolder/runFolder';
import type { ActiveRuns, ResumeStart } from './activeRuns';
import { errorText, type Feedback } from './feedback';
import { readSettings } from './settings';

export interface QueuedRun {
  config: RunConfig;
  member: SweepMember;
  /** A stopped or interrupted run of the sweep to go on from (Continue Sweep). */
  resume?: ResumeStart;
}

interface Sweep {
  id: string;
  /** Not started yet, in grid order. */
  pending: QueuedRun[];
  /** Started in this window (ids of their run folders), in start order. */
  started: string[];
  running: Set<string>;
  /** Runs of this sweep whose start is under way. */
  starting: number;
  /** Stop was asked: a run whose start was under way stops as soon as it has started. */
  stopped: boolean;
  dataText: string;
  done: Promise<string[]>;
  resolveDone: (ids: string[]) => void;
}

/** The machine's cores: navigator in the web worker host (and Node 21+), node:os in the Node host. */
async function coreCount(): Promise<number> {
  const web = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency;
  if (typeof web === 'number' && web > 0) return web;
  try {
    const os = await import('node:os');
    return os.availableParallelism?.() ?? os.cpus().length;
  } catch {
    return 1;
  }
}

export class Sweeps implements vscode.Disposable {
  private readonly sweeps = new Map<string, Sweep>();
  private readonly changed = new vscode.EventEmitter<void>();
  /** A run was queued, started or dequeued. */
  readonly onDidChange = this.changed.event;
  private cores: Promise<number> = coreCount();
  /** Runs being started (folder and worker), not yet counted by ActiveRuns. */
  private starting = 0;
  private pumping = false;

  constructor(
    private readonly runs: ActiveRuns,
    private readonly feedback: Feedback,
  ) {}

  /** How many runs of this window train at once: the setting, or the cores minus one (at least 1). */
  async concurrency(): Promise<number> {
    const set = readSettings().sweepConcurrency;
    return set > 0 ? set : Math.max(1, (await this.cores) - 1);
  }

  /**
   * Queues a validated grid and starts what the concurrency allows. Returns the sweep's id at once.
   * `source`: the sweep config the grid was made from, kept in each run's sweep.json.
   */
  async start(grid: ExpandedSweep, dataText: string, source?: Record<string, unknown>): Promise<string> {
    let id = `${runStamp(new Date())}-${safeRunName(grid.name)}`;
    for (let i = 2; this.sweeps.has(id); i++) id = `${runStamp(new Date())}-${safeRunName(grid.name)}-${i}`;
    const total = grid.runs.length;
    const pending = grid.runs.map((r, index): QueuedRun => ({ config: r.config, member: { id, name: grid.name, index, total, values: r.values, ...(source ? { source } : {}) } }));
    this.feedback.log(`sweep ${id}: ${total} runs (${grid.keys.join(' x ')}), ${await this.concurrency()} at once`);
    await this.enqueue(id, pending, dataText);
    return id;
  }

  /** Queues the rest of a sweep whose queue a closed window or Stop Sweep dropped (Continue Sweep), under its own id. */
  async continue(sweepId: string, pending: QueuedRun[], dataText: string): Promise<void> {
    if (this.isActive(sweepId)) throw new Error(`sweep ${sweepId} still has runs training or queued`);
    this.feedback.log(`sweep ${sweepId}: continued, ${pending.filter((r) => r.resume).length} runs resumed and ${pending.filter((r) => !r.resume).length} started, ${await this.concurrency()} at once`);
    await this.enqueue(sweepId, pending, dataText);
  }

  private async enqueue(id: string, pending: QueuedRun[], dataText: string): Promise<void> {
    let resolveDone!: (ids: string[]) => void;
    const done = new Promise<string[]>((r) => (resolveDone = r));
    this.sweeps.set(id, { id, pending, started: [], running: new Set(), starting: 0, stopped: false, dataText, done, resolveDone });
    this.changed.fire();
    await this.pump();
  }

  /** The runs waiting to start, every sweep's in grid order. */
  queued(): readonly QueuedRun[] {
    return [...this.sweeps.values()].flatMap((s) => s.pending);
  }

  /** Settles with the sweep's run ids once none of its runs is queued or training (stopped ones included). */
  whenDone(sweepId: string): Promise<string[]> | undefined {
    return this.sweeps.get(sweepId)?.done;
  }

  /** Whether the sweep has runs queued or training in this window. */
  isActive(sweepId: string): boolean {
    const s = this.sweeps.get(sweepId);
    return !!s && (s.pending.length > 0 || s.running.size > 0 || s.starting > 0);
  }

  /** Stop on a sweep (or every sweep): its queued runs are dropped, its training runs stop after their current step. */
  stop(sweepId?: string): boolean {
    let any = false;
    for (const s of this.sweeps.values()) {
      if (sweepId !== undefined && s.id !== sweepId) continue;
      if (s.pending.length) this.feedback.log(`sweep ${s.id}: ${s.pending.length} queued runs dropped`);
      any ||= s.pending.length > 0 || s.running.size > 0 || s.starting > 0;
      s.pending = [];
      s.stopped = true;
      for (const runId of s.running) this.runs.stop(runId);
      this.settle(s);
    }
    this.changed.fire();
    return any;
  }

  /** Starts queued runs while fewer than `concurrency` runs train in this window. */
  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      for (;;) {
        const limit = await this.concurrency();
        if (this.runs.ids().length + this.starting >= limit) break;
        const sweep = [...this.sweeps.values()].find((s) => s.pending.length > 0);
        if (!sweep) break;
        const next = sweep.pending.shift()!;
        this.starting++;
        sweep.starting++;
        this.changed.fire();
        // Not awaited: a run's worker start is slow on a loaded machine, and the next may start beside it.
        void this.launch(sweep, next).finally(() => {
          this.starting--;
          sweep.starting--;
          this.settle(sweep);
          void this.pump();
        });
      }
    } finally {
      this.pumping = false;
    }
  }

  private async launch(sweep: Sweep, run: QueuedRun): Promise<void> {
    let runId: string;
    try {
      runId = await this.runs.start(run.config, sweep.dataText, run.resume, run.member);
    } catch (e) {
      // ActiveRuns recorded the run as failed in its folder; the sweep goes on with the others.
      this.feedback.log(`sweep ${sweep.id}: run ${run.member.index + 1} of ${run.member.total} did not start: ${errorText(e)}`);
      return;
    }
    sweep.started.push(runId);
    sweep.running.add(runId);
    if (sweep.stopped) this.runs.stop(runId);
    this.changed.fire();
    void this.runs.whenDone(runId)?.then(() => {
      sweep.running.delete(runId);
      this.settle(sweep);
      this.changed.fire();
      void this.pump();
    });
  }

  private settle(sweep: Sweep): void {
    if (sweep.pending.length === 0 && sweep.running.size === 0 && sweep.starting === 0) sweep.resolveDone([...sweep.started]);
  }

  dispose(): void {
    this.changed.dispose();
  }
}
