/**
 * Which run run on selection uses, and its model: the run named by the command's argument, else
 * the last one used (kept in the workspace state), else the user's pick; the model loaded once
 * per checkpoint (its mtime), both for the host (metadata) and as the bytes the worker is sent.
 */
import * as vscode from 'vscode';
import { loadCheckpoint } from '../../engine/checkpoint';
import { runFiles, runPath } from '../../runFolder/runFolder';
import { idIn, type RunPicker } from '../runPicker';
import type { RunStore, StoredRun } from '../runStore';
import { runIdProblem } from '../webviewMessages';
import type { ChosenRun, LoadedRun } from './state';

const lastRunKey = 'rnnLab.selection.lastRun';

export class SelectionModels {
  private readonly models = new Map<string, { mtime: number; loaded: LoadedRun }>();
  private lastRunId: string | undefined;

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly store: RunStore,
    private readonly picker: RunPicker,
    private readonly reportError: (message: string) => void,
  ) {
    this.lastRunId = context.workspaceState.get<string>(lastRunKey);
  }

  /** The run used last: the next command without a run argument takes it again. */
  used(id: string): void {
    this.lastRunId = id;
    void this.context.workspaceState.update(lastRunKey, id);
  }

  private async runsWithModel(): Promise<StoredRun[]> {
    return (await this.store.list()).filter((r) => r.status !== 'running' && (r.config?.task === 'charlm' || r.config?.task === 'forecast'));
  }

  /**
   * The run passed in (a Runs view item, an id, or { runId }), else the last one used, else a quick
   * pick. A known id goes straight to its folder: listing every run costs a read per run, which in
   * the web host is a round trip each.
   */
  async chooseRun(arg: unknown): Promise<ChosenRun | undefined> {
    const given = idIn(arg);
    if (given !== undefined && !this.picker.checked(given)) return undefined;
    const id = given ?? this.lastRunId;
    if (id !== undefined && runIdProblem(id) === undefined) {
      if (this.store.isOpen(id)) {
        this.reportError(`RNN Lab: run ${id} is still training; wait for it to finish (or stop it) and try again.`);
        return undefined;
      }
      const uri = this.store.runUri(id);
      // A named run loaded before is stat'ed by load() anyway (one round trip, not two); the
      // last-used run is checked here, so that a deleted one falls back to the quick pick.
      if ((given !== undefined && this.models.has(id)) || (await this.store.fs.exists(runPath(id, runFiles.checkpoint)))) return { id, uri };
    }
    if (given !== undefined) {
      this.reportError(`RNN Lab: there is no finished run "${given}" with a model to run on the selection. Pick one from the Runs view.`);
      return undefined;
    }
    const runs = await this.runsWithModel();
    if (runs.length === 0) {
      this.reportError('RNN Lab: no trained run to run on the selection yet. Train one first (RNN Lab: Train RNN).');
      return undefined;
    }
    const [pick] = await this.picker.quickPick(runs, 'RNN Lab: run which model on the selection?', false);
    return pick && { id: pick.id, uri: pick.uri };
  }

  async load(run: ChosenRun): Promise<LoadedRun | undefined> {
    const uri = vscode.Uri.joinPath(run.uri, runFiles.checkpoint);
    try {
      const stat = await vscode.workspace.fs.stat(uri);
      const cached = this.models.get(run.id);
      if (cached && cached.mtime === stat.mtime) return cached.loaded;
      const bytes = await vscode.workspace.fs.readFile(uri);
      const loaded = { model: loadCheckpoint(bytes, runPath(run.id, runFiles.checkpoint)), bytes, key: `${run.id}@${stat.mtime}` };
      this.models.set(run.id, { mtime: stat.mtime, loaded });
      return loaded;
    } catch (e) {
      this.reportError(`RNN Lab: cannot load the model of run ${run.id}: ${e instanceof Error ? e.message : String(e)}${(e as { hint?: string }).hint ? `. ${(e as { hint?: string }).hint}` : ''}`);
      return undefined;
    }
  }
}
