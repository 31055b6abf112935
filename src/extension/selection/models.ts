/**
 * Which run run on selection uses, and its model: the run named by the command's argument, else
 * the last one used (kept in the workspace state), else the user's pick; the model of its latest
 * checkpoint generation (also while the run trains) loaded once per generation (the mtime of its
 * commit file), both for the host (metadata) and as the bytes the worker is sent.
 */
import * as vscode from 'vscode';
import { loadCheckpoint } from '../../engine/checkpoint';
import { isSeq2SeqCheckpoint } from '../../engine/seq2seqCheckpoint';
import { hasModel, latestModel, noModelYet } from '../../runFolder/generation';
import { runFiles } from '../../runFolder/runFolder';
import { folderAt, idIn, type RunPicker } from '../runPicker';
import type { RunStore } from '../runStore';
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


  /**
   * The run passed in (a Runs view item, an id, or { runId }), else the last one used, else a quick
   * pick. A known id goes straight to its folder: listing every run costs a read per run, which in
   * the web host is a round trip each.
   */
  async chooseRun(arg: unknown): Promise<ChosenRun | undefined> {
    const given = idIn(arg);
    if (given !== undefined && !this.picker.checked(given)) return undefined;
    // A folder added with Watch Run Folder... lies outside the run store: the picker knows where.
    if (given !== undefined && this.picker.isWatchedFolder(given)) {
      const run = await this.picker.pickWithModel(given, 'RNN Lab: run which model on the selection?', (r) => r.config?.task === 'charlm' || r.config?.task === 'forecast');
      return run && { id: run.id, uri: run.uri };
    }
    const id = given ?? this.lastRunId;
    if (id !== undefined && runIdProblem(id) === undefined) {
      const uri = this.store.runUri(id);
      // A named run loaded before is stat'ed by load() anyway (one round trip, not two); the
      // last-used run is checked here, so that a deleted one falls back to the quick pick.
      if ((given !== undefined && this.models.has(id)) || (await hasModel(this.store.fs, id))) return { id, uri };
    }
    if (given !== undefined) {
      const why = this.store.isOpen(given) ? 'it trains and has not written its first checkpoint yet' : `there is none, or it was ${noModelYet}`;
      this.reportError(`RNN Lab: run "${given}" has no model to run on the selection: ${why}. Pick one from the Runs view.`);
      return undefined;
    }
    const pick = await this.picker.pickWithModel(undefined, 'RNN Lab: run which model on the selection?', (r) => r.config?.task === 'charlm' || r.config?.task === 'forecast');
    return pick && { id: pick.id, uri: pick.uri };
  }

  async load(run: ChosenRun): Promise<LoadedRun | undefined> {
    try {
      // resume.safetensors is a generation's commit point: its mtime changes with every generation.
      // A run of an older version or an import has only the checkpoint.
      const stat = await vscode.workspace.fs.stat(vscode.Uri.joinPath(run.uri, runFiles.resume)).then(
        (st) => st,
        () => vscode.workspace.fs.stat(vscode.Uri.joinPath(run.uri, runFiles.checkpoint)),
      );
      const cached = this.models.get(run.id);
      if (cached && cached.mtime === stat.mtime) return cached.loaded;
      const { fs, dir } = folderAt(run.uri);
      const latest = await latestModel(fs, dir);
      if ('problem' in latest) throw new Error(latest.problem);
      if (isSeq2SeqCheckpoint(latest.bytes, latest.where)) throw new Error('it is a seq2seq run: use RNN Lab: Translate Selection on it');
      const loaded = { model: loadCheckpoint(latest.bytes, latest.where), bytes: latest.bytes, key: `${run.id}@${stat.mtime}` };
      this.models.set(run.id, { mtime: stat.mtime, loaded });
      return loaded;
    } catch (e) {
      this.reportError(`RNN Lab: cannot load the model of run ${run.id}: ${e instanceof Error ? e.message : String(e)}${(e as { hint?: string }).hint ? `. ${(e as { hint?: string }).hint}` : ''}`);
      return undefined;
    }
  }
}
