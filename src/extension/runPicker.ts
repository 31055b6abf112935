/**
 * The one way a command or panel learns which run(s) it is about. Command arguments are untrusted
 * (any extension or command link can pass anything): a Runs view item, a run id, `{ runId }` or
 * `{ id }`, or an array of those (the Runs view's multi-selection). Every id is checked by
 * runIdProblem before it is joined to the store's location. Without an id, a quick pick.
 *
 * The runs are the store's and the folders added with Watch Run Folder... (WatchedRuns): each
 * picked run says where its folder is read (`fs`, `dir`), so a command treats both alike. A run
 * another process still writes is refused, in one line, by the commands that would change it.
 */
import * as vscode from 'vscode';
import type { Feedback } from './feedback';
import { isSeq2SeqTask } from '../protocol/config';
import { hasModel, noModelYet } from '../runFolder/generation';
import { describeRun } from './runsTree';
import type { RunFs } from '../runFolder/runFolder';
import type { RunStore, StoredRun } from './runStore';
import type { WatchedRuns } from './watchedRuns';
import { runIdProblem } from './webviewMessages';
import { workspaceRunFs } from './workspaceRunFs';

/** The id one argument names (unchecked), or undefined when it names none. */
export function idIn(arg: unknown): string | undefined {
  if (typeof arg === 'string') return arg;
  if (arg && typeof arg === 'object' && !Array.isArray(arg)) {
    const a = arg as { runId?: unknown; id?: unknown };
    const id = a.runId ?? a.id;
    return typeof id === 'string' ? id : undefined;
  }
  return undefined;
}

/** The valid run ids named by command arguments, each once, in order (invalid ones are left out). */
export function idsIn(args: unknown[]): string[] {
  const ids: string[] = [];
  const visit = (a: unknown): void => {
    if (Array.isArray(a)) return a.forEach(visit);
    const id = idIn(a);
    if (id !== undefined && runIdProblem(id) === undefined) ids.push(id);
  };
  args.forEach(visit);
  return [...new Set(ids)];
}

/** A run a command acts on: its folder is read as `fs` paths `<dir>/<file>` (the store's, or a watched folder's parent). */
export type PickedRun = StoredRun & { fs: RunFs; dir: string; watched: boolean };

/**
 * Which runs a command can use, and the words for the others: `why(r)` completes "run X ..." for a
 * named run that does not fit, `leftOut` names the runs a quick pick leaves out for it.
 */
export interface RunFilter {
  test(r: StoredRun): boolean;
  why(r: StoredRun): string;
  leftOut: string;
  /** What to do when no run fits (after "no run with a model for this yet (...)."). */
  then: string;
}

/** Seq2seq runs only (Translate Selection): a language model or forecaster has no translation. */
export const seq2seqRuns: RunFilter = {
  test: (r) => isSeq2SeqTask(r.config?.task),
  why: (r) => `is ${r.config?.task === 'forecast' ? 'a forecaster' : r.config?.task === 'charlm' ? 'a character language model' : 'not a seq2seq run'}, not a seq2seq run: Translate Selection needs one trained with a task such as reverse, date or seq2seq (pairs)`,
  leftOut: 'not seq2seq',
  then: 'Train a seq2seq run first: a *.rnn.json with "task": "reverse" (or date, copy, sort, addition; "seq2seq" for a pairs file), or the example reverse-dot.rnn.json.',
};

export class RunPicker {
  constructor(
    private readonly store: RunStore,
    private readonly feedback: Feedback,
    private readonly watched?: Pick<WatchedRuns, 'outsideRuns' | 'folderOf' | 'isGrowing' | 'quietMs'>,
  ) {}

  /** Every run a command can take: the watched folders', then the store's (newest first). */
  async list(): Promise<PickedRun[]> {
    const outside: PickedRun[] = [];
    for (const r of this.watched?.outsideRuns() ?? []) {
      const folder = this.watched?.folderOf(r.id);
      if (folder) outside.push({ ...r, ...folder, watched: true });
    }
    const stored = (await this.store.list()).map((r) => ({ ...r, fs: this.store.fs, dir: r.id, watched: false }));
    return [...outside, ...stored];
  }

  /** Whether `id` is a folder added with Watch Run Folder... (outside the run store). */
  isWatchedFolder(id: string): boolean {
    return this.watched?.folderOf(id) !== undefined;
  }

  /** Whether another process writes this run now: Resume Run and Delete Run refuse it. */
  growing(id: string): boolean {
    return this.watched?.isGrowing(id) ?? false;
  }

  /** The one line refusing to `action` (e.g. "delete") a run another process still writes. */
  stillWritten(id: string, action: string): string {
    const quiet = Math.round((this.watched?.quietMs ?? 15_000) / 1000);
    return `RNN Lab: cannot ${action} run ${id}: it is still being written by another process (its files grew in the last ${quiet} s). Stop that process, or wait until its files stop growing.`;
  }

  /**
   * The run `arg` names, among the stored runs that pass `filter`; else the user's pick of them.
   * A bad or unknown id is one error message and undefined.
   */
  async pick(arg: unknown, title: string, filter: (r: StoredRun) => boolean = () => true, action?: string): Promise<PickedRun | undefined> {
    const id = idIn(arg);
    if (id !== undefined && !this.checked(id)) return undefined;
    const all = (await this.list()).filter(filter);
    if (id !== undefined) {
      const run = all.find((r) => r.id === id);
      if (!run) void this.feedback.error(action && this.growing(id) ? this.stillWritten(id, action) : `RNN Lab: no run "${id}" here for that`);
      return run;
    }
    if (all.length === 0) {
      void vscode.window.showInformationMessage('RNN Lab: no run to pick yet. Train one first ("RNN Lab: Train RNN").');
      return undefined;
    }
    return (await this.quickPick(all, title, false))[0];
  }

  /**
   * A run with a model to load (its latest checkpoint generation: also a run that trains), among
   * the stored runs that pass `filter`. A run `arg` names without one is an error saying why; the
   * quick pick offers only runs with one, and its title says how many it left out and why.
   */
  async pickWithModel(arg: unknown, title: string, filter: ((r: StoredRun) => boolean) | RunFilter = () => true): Promise<PickedRun | undefined> {
    const id = idIn(arg);
    if (id !== undefined && !this.checked(id)) return undefined;
    const test = typeof filter === 'function' ? filter : filter.test;
    const all = await this.list();
    const candidates = all.filter(test);
    const runs = id !== undefined ? candidates.filter((r) => r.id === id) : candidates;
    const usable: PickedRun[] = [];
    for (const r of runs) if (await hasModel(r.fs, r.dir)) usable.push(r);
    if (id !== undefined) {
      const other = runs.length === 0 && typeof filter !== 'function' ? all.find((r) => r.id === id) : undefined;
      if (other) void this.feedback.error(`RNN Lab: run ${id} ${(filter as RunFilter).why(other)}. Pick another run.`);
      else if (runs.length === 0) void this.feedback.error(`RNN Lab: no run "${id}" here for that`);
      else if (usable.length === 0) void this.feedback.error(`RNN Lab: run ${id} has no model yet: ${whyNoModel(runs[0])}. Pick another run, or resume this one.`);
      return usable[0];
    }
    // Runs of another kind are named in the message, so the user knows why theirs is missing.
    const otherKind = typeof filter === 'function' ? 0 : all.length - candidates.length;
    const kindNote = otherKind ? `${otherKind} run${otherKind === 1 ? '' : 's'} not listed: ${(filter as RunFilter).leftOut}` : '';
    if (usable.length === 0) {
      const why = runs.length ? ` (${runs.length === 1 ? `${runs[0].id} was` : `${runs.length} runs were`} ${noModelYet})` : '';
      void vscode.window.showInformationMessage(`RNN Lab: no run with a model for this yet${why}${kindNote ? ` (${kindNote})` : ''}. ${typeof filter === 'function' ? 'Train one first ("RNN Lab: Train RNN").' : filter.then}`);
      return undefined;
    }
    const left = runs.length - usable.length;
    const notes = [left ? `${left} run${left === 1 ? '' : 's'} without a model not listed: ${noModelYet}` : '', kindNote].filter(Boolean);
    return (await this.quickPick(usable, `${title}${notes.length ? ` (${notes.join('; ')})` : ''}`, false))[0];
  }

  /** Several runs (Compare Runs): a quick pick with check boxes. */
  async pickMany(title: string): Promise<PickedRun[]> {
    const all = await this.list();
    if (all.length === 0) {
      void vscode.window.showInformationMessage('RNN Lab: no run to pick yet. Train one first ("RNN Lab: Train RNN").');
      return [];
    }
    return this.quickPick(all, title, true);
  }

  /** False, with the problem shown, when `id` cannot be a run id. */
  checked(id: string): boolean {
    const problem = runIdProblem(id);
    if (problem) void this.feedback.error(`RNN Lab: ${problem}. Pick a run from the Runs view.`);
    return problem === undefined;
  }

  async quickPick<R extends StoredRun>(runs: R[], title: string, many: boolean): Promise<R[]> {
    const items = runs.map((r) => ({ label: r.config?.name ?? r.id, description: describeRun(r), detail: r.id, run: r }));
    if (many) return ((await vscode.window.showQuickPick(items, { title, canPickMany: true })) ?? []).map((i) => i.run);
    const one = await vscode.window.showQuickPick(items, { title });
    return one ? [one.run] : [];
  }
}

/** A run folder at any location, as the run folder layer reads it: its parent as the RunFs root. */
export function folderAt(uri: vscode.Uri): { fs: RunFs; dir: string } {
  return { fs: workspaceRunFs(vscode.Uri.joinPath(uri, '..')), dir: uri.path.split('/').filter(Boolean).pop() ?? '' };
}

/** Why a run has no model yet, in a few words. */
export function whyNoModel(run: StoredRun): string {
  return run.status === 'running' ? 'it trains and has not written its first checkpoint yet' : noModelYet;
}
