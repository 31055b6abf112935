import * as vscode from 'vscode';
import { RunsTreeProvider, type RunItem } from './runsTree';
import { DiagnosticsViewProvider } from './diagnosticsView';
import { registerReportPanel } from './reportPanel';
import { RunStore, type StoredRun } from './runStore';
import { exists } from './workspaceRunFs';
import { TrainingSession } from './trainingSession';
import { workerCounts } from './workerHost';
import { hostWork, type WorkStats } from './hostWork';
import { registerImportCommand } from './importCheckpoint';
import { registerSelectionCommands, type SelectionApi } from './selection';
import { readJsonFile, readRegularFile } from './workspaceFiles';
import { DEFAULT_CONFIG, resolveDataPath, validateConfig } from '../engine/config';
import { checkFileSize, decodeText } from '../engine/data';
import { runIdProblem } from './webviewMessages';
import { loadCheckpoint } from '../engine/checkpoint';
import { decodeSafetensors } from '../engine/safetensors';
import { Rng } from '../engine/random';
import { sampleText } from '../engine/sample';
import type { CellKind, MetricsRecord, RunConfig, RunSummary } from '../protocol/config';
import type { FromWorker, ResumeFrom } from '../protocol/trainingWorker';

/**
 * What activate() hands back. Integration tests reach the extension's state through this
 * (a test in the extension host cannot see the DOM of a view or webview).
 */
export interface RnnLabApi {
  readonly runs: RunsTreeProvider;
  readonly diagnostics: DiagnosticsViewProvider;
  readonly store: RunStore;
  /** Run ids training in this window. */
  activeRuns(): string[];
  /** Settles with the summary once the run has ended and its files are written (also for a run that already ended in this window). */
  whenDone(runId: string): Promise<RunSummary> | undefined;
  /** Every error message shown to the user, in order (tests check them; messages cannot be read from the UI). */
  readonly errors: readonly string[];
  /** Refreshes the Runs tree from disk now. */
  refreshRuns(): Promise<void>;
  /** Run on selection: the decorations shown per document and the status bar legend. */
  readonly selection: SelectionApi;
  /** Our synchronous work in this host per kind (worker messages, panel batches, run store flushes); `reset` starts over. */
  hostWork(reset?: boolean): Record<string, WorkStats>;
  /** Workers (training and inspect) started and ended in this host so far: equal when none is alive. */
  workerCounts(): { started: number; ended: number };
  /** Tests only: start the next runs' workers from this script (a fault-injecting fake), or the real one again with undefined. */
  useWorkerScriptForTests(script: vscode.Uri | undefined): void;
}

interface ActiveRun {
  session: TrainingSession;
  /** The run's files are flushed and summary.json written. */
  stored: Promise<RunSummary>;
  last?: MetricsRecord;
}

const sizePresets: Record<string, Partial<RunConfig>> = {
  tiny: { layers: 1, hidden: 32, seqLength: 25, batch: 4, steps: 200 },
  small: { layers: 1, hidden: 128, seqLength: 50, batch: 16, steps: 1000 },
  medium: { layers: 2, hidden: 256, seqLength: 64, batch: 32, steps: 3000 },
};

export function activate(context: vscode.ExtensionContext): RnnLabApi {
  const runs = new RunsTreeProvider();
  const diagnostics = new DiagnosticsViewProvider(context.extensionUri);
  const store = RunStore.forWorkspace(context);
  registerReportPanel(context, diagnostics.hub, store);
  const output = vscode.window.createOutputChannel('RNN Lab');
  const statusBar = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Left, 50);
  statusBar.command = 'workbench.view.extension.rnnLab';
  const active = new Map<string, ActiveRun>();
  /** Summaries of runs that ended in this window, so whenDone() also answers after the fact. */
  const endedRuns = new Map<string, RunSummary>();
  const errors: string[] = [];
  let workerScriptForTests: vscode.Uri | undefined;

  const refreshRuns = async (): Promise<void> => {
    const stored = await store.list();
    runs.setRuns(stored.map((r) => toItem(r, active.get(r.id)?.last)));
  };
  let refreshTimer: ReturnType<typeof setTimeout> | undefined;
  const scheduleRefresh = (): void => {
    refreshTimer ??= setTimeout(() => {
      refreshTimer = undefined;
      void refreshRuns();
    }, 1000);
  };

  const updateStatusBar = (): void => {
    const live = [...active.values()].filter((r) => r.last);
    if (active.size === 0) {
      statusBar.hide();
      return;
    }
    const r = live[0]?.last;
    const text = r ? `step ${r.step} · loss ${r.loss.toFixed(3)} · ${Math.round(r.charsPerSec)} chars/s` : 'starting';
    statusBar.text = `$(pulse) RNN Lab: ${text}${active.size > 1 ? ` (+${active.size - 1})` : ''}`;
    statusBar.tooltip = 'RNN Lab training - click to open the panel';
    statusBar.show();
  };
  // Metrics arrive hundreds of times a second for small models; every status-bar change is a
  // message to the workbench, and in a remote (code-server) host those queue in front of the run
  // store's file writes. Four updates a second is what a person can read anyway.
  let statusTimer: ReturnType<typeof setTimeout> | undefined;
  const scheduleStatusBar = (): void => {
    statusTimer ??= setTimeout(() => {
      statusTimer = undefined;
      updateStatusBar();
    }, 250);
  };

  const startRun = async (config: RunConfig, dataText: string, resume?: ResumeFrom & { fromRun: string; step: number }): Promise<string> => {
    const runId = await store.create(config);
    output.appendLine(`[${new Date().toISOString()}] run ${runId} started: ${config.cell} ${config.layers}x${config.hidden}, ${config.steps} steps, data ${config.data}${resume ? `, resumed from run ${resume.fromRun} at step ${resume.step}` : ''}`);
    let resolveStored!: (s: RunSummary) => void;
    const stored = new Promise<RunSummary>((r) => (resolveStored = r));
    let resolveEnded!: () => void;
    const ended = new Promise<void>((r) => (resolveEnded = r));
    let run: ActiveRun | undefined;
    // Checkpoint writes in order (they share one .tmp name); 'done' waits for the last.
    let checkpoints: Promise<unknown> = Promise.resolve();
    const onMessage = (msg: FromWorker): void => {
      switch (msg.type) {
        case 'metrics':
          store.appendMetrics(runId, msg.record);
          if (run) run.last = msg.record;
          scheduleStatusBar();
          scheduleRefresh();
          // Every record: the panels' hub keeps a bounded buffer per run and posts to the
          // webview in batches (one message per ~100 ms), so a fast run does not flood it.
          diagnostics.post(msg);
          break;
        case 'diagnostics':
          store.appendDiagnostics(runId, msg.record);
          diagnostics.post(msg);
          break;
        case 'checkpoint':
          {
            const { bytes, resumeState } = msg;
            checkpoints = checkpoints.then(() =>
              store.writeCheckpoint(runId, bytes, resumeState).catch((e) => output.appendLine(`checkpoint write failed: ${String(e)}`)),
            );
          }
          break;
        case 'log':
          output.appendLine(`[${runId}] ${msg.message}`);
          break;
        case 'done': {
          diagnostics.post(msg);
          const summary = msg.summary;
          void (async () => {
            await checkpoints;
            await store.finish(runId, summary).catch((e) => output.appendLine(`summary write failed: ${String(e)}`));
            endedRuns.set(runId, summary);
            active.delete(runId);
            updateStatusBar();
            const loss = summary.loss !== undefined ? `, loss ${summary.loss.toFixed(4)}` : '';
            output.appendLine(`[${new Date().toISOString()}] run ${runId} ${summary.status} at step ${summary.step}${loss}${summary.message ? `: ${summary.message}` : ''}`);
            if (summary.status === 'failed' || summary.status === 'diverged') {
              void vscode.window.showErrorMessage(`RNN Lab: run ${runId} ${summary.status}${summary.message ? `: ${summary.message}` : ''}`, 'Show Log').then((a) => {
                if (a) output.show();
              });
            }
            diagnostics.post(msg);
            await refreshRuns();
            resolveEnded();
            resolveStored(summary);
          })();
          break;
        }
        default:
          diagnostics.post(msg);
      }
    };
    let session: TrainingSession;
    try {
      session = await TrainingSession.start({ extensionUri: context.extensionUri, runId, config, dataText, resume, onMessage, workerScript: workerScriptForTests });
    } catch (e) {
      const summary: RunSummary = { status: 'failed', step: 0, message: errorText(e) };
      await store.finish(runId, summary);
      await refreshRuns();
      throw e;
    }
    run = { session, stored };
    active.set(runId, run);
    updateStatusBar();
    await refreshRuns();
    void vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `RNN Lab: training ${config.name}`, cancellable: true },
      async (progress, token) => {
        token.onCancellationRequested(() => session.stop());
        let lastPct = 0;
        const timer = setInterval(() => {
          const r = active.get(runId)?.last;
          if (!r) return;
          const pct = Math.min(100, (100 * r.step) / config.steps);
          progress.report({ increment: pct - lastPct, message: `step ${r.step}/${config.steps}, loss ${r.loss.toFixed(3)}` });
          lastPct = pct;
        }, 500);
        await ended;
        clearInterval(timer);
      },
    );
    return runId;
  };

  /**
   * Restricted Mode (package.json capabilities.untrustedWorkspaces "limited"): a workspace's run
   * configs and data are not read and nothing trains or samples; stored runs are only listed.
   */
  const refuseUntrusted = (what: string): boolean => {
    if (vscode.workspace.isTrusted) return false;
    showError(`RNN Lab: ${what} is off in Restricted Mode: this workspace is not trusted. Trust it (Manage Workspace Trust) to train on its files.`);
    return true;
  };

  const train = async (arg?: unknown): Promise<string | undefined> => {
    if (refuseUntrusted('training')) return undefined;
    const folder = vscode.workspace.workspaceFolders?.[0];
    let uri = arg instanceof vscode.Uri ? arg : undefined;
    if (!uri) {
      const doc = vscode.window.activeTextEditor?.document;
      if (doc && doc.uri.scheme !== 'untitled' && /\.(txt|md|csv|rnn\.json)$/i.test(doc.uri.path)) uri = doc.uri;
    }
    if (uri && uri.path.endsWith('.rnn.json')) return trainFromConfigFile(uri);
    // Quick picks: data file, cell, size.
    if (!uri) {
      if (!folder) {
        void vscode.window.showErrorMessage('RNN Lab: open a folder with a data file or a *.rnn.json run config first.');
        return undefined;
      }
      const files = await vscode.workspace.findFiles('**/*.{txt,md,csv,rnn.json}', '{**/node_modules/**,**/.rnn-lab/**}', 200);
      const pick = await vscode.window.showQuickPick(
        files.map((f) => ({ label: vscode.workspace.asRelativePath(f), uri: f })),
        { title: 'RNN Lab: data file or run config', placeHolder: 'Pick a text/CSV file to train on, or a *.rnn.json run config' },
      );
      if (!pick) return undefined;
      uri = pick.uri;
      if (uri.path.endsWith('.rnn.json')) return trainFromConfigFile(uri);
    }
    const isCsv = uri.path.toLowerCase().endsWith('.csv');
    const rel = vscode.workspace.asRelativePath(uri, false);
    const dataText = await readData(uri, settingsDefaults().maxFileBytes ?? DEFAULT_CONFIG.maxFileBytes, rel);
    if (dataText === undefined) return undefined;
    let columns: (string | number)[] | undefined;
    if (isCsv) {
      const header = dataText.split(/\r?\n/, 1)[0].split(',').map((h) => h.trim());
      const col = await vscode.window.showQuickPick(
        header.map((h, i) => ({ label: h || `column ${i}`, value: /^-?[\d.eE+-]+$/.test(h) ? i : h })),
        { title: 'RNN Lab: column to forecast' },
      );
      if (!col) return undefined;
      columns = [col.value];
    }
    // The defaults from settings come first, so Enter takes them.
    const settings = vscode.workspace.getConfiguration('rnnLab');
    const defaultFirst = <T extends { value: string }>(items: T[], wanted: string | undefined): T[] =>
      [...items].sort((a, b) => Number(b.value === wanted) - Number(a.value === wanted));
    const cell = await vscode.window.showQuickPick(
      defaultFirst(
        [
          { label: 'LSTM', value: 'lstm' as CellKind },
          { label: 'GRU', value: 'gru' as CellKind },
          { label: 'RNN', description: 'vanilla tanh RNN', value: 'rnn' as CellKind },
        ],
        settings.get<string>('defaultCell'),
      ),
      { title: 'RNN Lab: cell' },
    );
    if (!cell) return undefined;
    const size = await vscode.window.showQuickPick(
      defaultFirst(
        Object.entries(sizePresets).map(([label, p]) => ({ label, value: label, description: `${p.layers}x${p.hidden}, seq ${p.seqLength}, batch ${p.batch}, ${p.steps} steps` })),
        settings.get<string>('defaultSize'),
      ),
      { title: 'RNN Lab: size' },
    );
    if (!size) return undefined;
    const base = uri.path.split('/').pop()!.replace(/\.[^.]+$/, '');
    const config: RunConfig = {
      ...DEFAULT_CONFIG,
      ...settingsDefaults(),
      ...sizePresets[size.label],
      name: `${base}-${cell.value}-${size.label}`,
      task: isCsv ? 'forecast' : 'charlm',
      data: rel,
      ...(columns ? { columns } : {}),
      cell: cell.value,
    };
    try {
      validateConfig(config, 'settings');
    } catch (e) {
      errors.push(errorText(e));
      void vscode.window.showErrorMessage(`RNN Lab: ${errorText(e)}`, 'Open Settings').then((a) =>
        a ? vscode.commands.executeCommand('workbench.action.openSettings', 'rnnLab') : undefined,
      );
      return undefined;
    }
    return startRun(config, dataText);
  };

  const trainFromConfigFile = async (configUri: vscode.Uri): Promise<string | undefined> => {
    const openConfig = async (): Promise<void> => {
      await vscode.window.showTextDocument(configUri);
    };
    const fail = (message: string): undefined => {
      output.appendLine(`error: ${message}`);
      errors.push(message);
      void vscode.window.showErrorMessage(`RNN Lab: ${message}`, 'Open Config').then((a) => (a ? openConfig() : undefined));
      return undefined;
    };
    const rel = vscode.workspace.asRelativePath(configUri, false);
    let config: RunConfig;
    try {
      const raw = (await readJsonFile(configUri, rel, 'Fix the JSON and try again.')) as Record<string, unknown>;
      // Settings fill what the file does not say.
      const defaults = settingsDefaults();
      const merged = typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? { ...defaults, ...raw } : raw;
      config = validateConfig(merged, rel).config;
    } catch (e) {
      return fail(`${rel}: ${errorText(e)}`);
    }
    if (!config.data) return fail(`${rel}: "data" is missing (the path of a text or CSV file, relative to the config file)`);
    // The data path is resolved by hand against the workspace folder (or, with none open, the
    // config's own folder) and refused if it would leave it: a config can name no file outside.
    const folder = vscode.workspace.getWorkspaceFolder(configUri);
    const base = folder?.uri ?? vscode.Uri.joinPath(configUri, '..');
    const baseDir = base.path.replace(/\/$/, '');
    const configDir = configUri.path.slice(0, configUri.path.lastIndexOf('/'));
    const configDirRel = folder && configDir.startsWith(baseDir + '/') ? configDir.slice(baseDir.length + 1) : '';
    let dataUri: vscode.Uri;
    try {
      dataUri = vscode.Uri.joinPath(base, resolveDataPath(configDirRel, config.data, rel));
    } catch (e) {
      return fail(errorText(e));
    }
    let dataText: string;
    try {
      dataText = await loadDataFile(dataUri, config.data, config.maxFileBytes);
    } catch (e) {
      return fail(`${rel}: cannot read data file ${config.data}: ${errorText(e)}`);
    }
    return startRun({ ...config, data: vscode.workspace.asRelativePath(dataUri, false) }, dataText);
  };

  /**
   * Every training path reads its data through here: real files only (a link could point anywhere
   * on the machine, so links and folders are refused), the size cap checked on the stat before
   * reading so an oversized file never enters memory, then the text checks. Throws what is wrong.
   */
  const loadDataFile = async (uri: vscode.Uri, name: string, maxBytes: number): Promise<string> => {
    const stat = await vscode.workspace.fs.stat(uri);
    if (stat.type & vscode.FileType.SymbolicLink) throw new Error(`${name} is a symbolic link; RNN Lab reads only real files inside the workspace. Copy the file into the workspace.`);
    return decodeText(await readRegularFile(uri, name, maxBytes, (size) => checkFileSize(size, name, maxBytes)), name, maxBytes);
  };

  const readData = async (uri: vscode.Uri, maxBytes: number, rel: string): Promise<string | undefined> => {
    try {
      return await loadDataFile(uri, rel, maxBytes);
    } catch (e) {
      void vscode.window.showErrorMessage(`RNN Lab: cannot read ${rel}: ${errorText(e)}`, 'Show Log').then((a) => (a ? output.show() : undefined));
      return undefined;
    }
  };

  const stopTraining = async (): Promise<void> => {
    if (active.size === 0) {
      void vscode.window.showInformationMessage('RNN Lab: no run is training.');
      return;
    }
    for (const [id, run] of active) {
      output.appendLine(`[${new Date().toISOString()}] stopping run ${id}`);
      run.session.stop();
    }
  };

  /**
   * Resume Run: a stopped or finished run carries on exactly where its last checkpoint left it
   * (optimizer moments, RNG and data position from resume.safetensors) as a new run, so the old
   * run's files are never touched. Its records start at the checkpoint's step + 1: overlaid in a
   * report they continue the old curve. Programmatic: { id, steps }.
   */
  const resumeRun = async (arg?: unknown): Promise<string | undefined> => {
    if (refuseUntrusted('training')) return undefined;
    const run = await pickRun(arg, 'Resume which run?', (r) => r.status !== 'running' && r.config !== undefined);
    if (!run?.config) return undefined;
    const fail = (message: string): undefined => {
      showError(`RNN Lab: cannot resume run ${run.id}: ${message}`);
      return undefined;
    };
    let checkpoint: Uint8Array;
    let state: Uint8Array;
    try {
      checkpoint = await vscode.workspace.fs.readFile(vscode.Uri.joinPath(run.uri, 'checkpoint.safetensors'));
      state = await vscode.workspace.fs.readFile(vscode.Uri.joinPath(run.uri, 'resume.safetensors'));
    } catch {
      return fail('it has no checkpoint.safetensors and resume.safetensors (runs keep them from their first checkpoint on; imported runs have no optimizer state). Train a new run instead.');
    }
    let step: number;
    try {
      step = Number(decodeSafetensors(checkpoint, `${run.id}/checkpoint.safetensors`).metadata.step);
    } catch (e) {
      return fail(errorText(e));
    }
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
    const folder = vscode.workspace.workspaceFolders?.[0];
    if (!folder) return fail('its data file is read from the workspace folder; open it first.');
    let dataUri: vscode.Uri;
    try {
      dataUri = vscode.Uri.joinPath(folder.uri, resolveDataPath('', run.config.data, `${run.id}/config.json`));
    } catch (e) {
      return fail(errorText(e));
    }
    const dataText = await readData(dataUri, run.config.maxFileBytes, run.config.data);
    if (dataText === undefined) return undefined;
    // The worker checks the rest (the same data, the same model, the resume file's step) before
    // it trains, and ends the run as failed with the reason if anything differs.
    return startRun({ ...run.config, steps }, dataText, { checkpoint, state, where: run.id, fromRun: run.id, step });
  };

  /** Picks a run: the tree item or id passed in, else a quick pick over the stored runs. */
  const pickRun = async (arg: unknown, title: string, filter: (r: StoredRun) => boolean): Promise<StoredRun | undefined> => {
    const all = (await store.list()).filter(filter);
    const id = typeof arg === 'string' ? arg : (arg as { runId?: string; id?: string } | undefined)?.runId ?? (arg as { id?: string } | undefined)?.id;
    if (id) {
      const problem = runIdProblem(id);
      if (problem) {
        showError(`RNN Lab: ${problem}. Pick a run from the Runs view.`);
        return undefined;
      }
      const run = all.find((r) => r.id === id);
      if (!run) showError(`RNN Lab: no run "${id}" here for that`);
      return run;
    }
    if (all.length === 0) {
      void vscode.window.showInformationMessage('RNN Lab: no run to pick yet. Train one first.');
      return undefined;
    }
    const pick = await vscode.window.showQuickPick(
      all.map((r) => ({ label: r.config?.name ?? r.id, description: toItem(r, undefined).description, run: r })),
      { title },
    );
    return pick?.run;
  };

  const showError = (message: string): void => {
    errors.push(message);
    void vscode.window.showErrorMessage(message);
  };

  /**
   * Sample from Model: text from a finished character model in a new untitled editor. Runs on the
   * host: a few hundred single steps of a small model take milliseconds, and the length is capped.
   */
  const sampleFromModel = async (arg?: unknown): Promise<string | undefined> => {
    if (refuseUntrusted('sampling')) return undefined;
    const run = await pickRun(arg, 'Sample from which run?', (r) => r.status !== 'running' && r.config?.task === 'charlm');
    if (!run) return undefined;
    const opts = (typeof arg === 'object' && arg) as { temperature?: number; length?: number; prime?: string } | false;
    let temperature = opts ? opts.temperature : undefined;
    let length = opts ? opts.length : undefined;
    let prime = opts ? opts.prime : undefined;
    if (temperature === undefined) {
      const t = await vscode.window.showInputBox({ title: 'Temperature (0 < T; lower is more conservative)', value: '0.8', validateInput: (v) => (Number(v) > 0 ? undefined : 'a number above 0') });
      if (t === undefined) return undefined;
      temperature = Number(t);
    }
    if (length === undefined) {
      const l = await vscode.window.showInputBox({ title: 'How many characters (1 to 20000)', value: '500', validateInput: (v) => (Number.isInteger(Number(v)) && Number(v) >= 1 && Number(v) <= 20000 ? undefined : 'a whole number from 1 to 20000') });
      if (l === undefined) return undefined;
      length = Number(l);
    }
    if (prime === undefined) {
      prime = await vscode.window.showInputBox({ title: 'Priming text (optional)', value: '' });
      if (prime === undefined) return undefined;
    }
    if (!(temperature > 0) || !Number.isInteger(length) || length < 1 || length > 20000) {
      showError('RNN Lab: temperature must be above 0 and length a whole number from 1 to 20000');
      return undefined;
    }
    let text: string;
    try {
      const bytes = await vscode.workspace.fs.readFile(vscode.Uri.joinPath(run.uri, 'checkpoint.safetensors'));
      const model = loadCheckpoint(bytes, `${run.id}/checkpoint.safetensors`);
      text = prime + sampleText(model.net, model.vocab!, { length, temperature, topK: 0, prime }, new Rng(Date.now() >>> 0));
    } catch (e) {
      showError(`RNN Lab: cannot sample from ${run.id}: ${errorText(e)}`);
      return undefined;
    }
    const doc = await vscode.workspace.openTextDocument({ content: text, language: 'plaintext' });
    await vscode.window.showTextDocument(doc, { preview: false });
    return text;
  };

  /** Delete Run: asks first (a modal), never while the run trains. `{ runId, confirmed: true }` skips the question for programmatic callers. */
  const deleteRun = async (arg?: unknown): Promise<boolean> => {
    const run = await pickRun(arg, 'Delete which run?', () => true);
    if (!run) return false;
    if (active.has(run.id)) {
      showError(`RNN Lab: ${run.id} is training; stop it before deleting it`);
      return false;
    }
    const confirmed = (arg as { confirmed?: boolean } | undefined)?.confirmed === true;
    if (!confirmed) {
      const answer = await vscode.window.showWarningMessage(`Delete run "${run.config?.name ?? run.id}" (${run.id}) and all its files?`, { modal: true }, 'Delete');
      if (answer !== 'Delete') return false;
    }
    await vscode.workspace.fs.delete(run.uri, { recursive: true, useTrash: false });
    output.appendLine(`[${new Date().toISOString()}] run ${run.id} deleted`);
    await refreshRuns();
    return true;
  };

  /**
   * The walkthrough's experiments: each example config shipped in media/examples is copied with the
   * bundled sample text into <workspace>/.rnn-lab/examples/ (existing copies, which a user may
   * have edited, are kept) and trained. Command links pass the names as separate arguments; a
   * trailing object overrides config fields (tests use it for short runs).
   */
  const runExample = async (args: unknown[]): Promise<string[]> => {
    if (refuseUntrusted('running the examples')) return [];
    const folder = vscode.workspace.workspaceFolders?.[0];
    if (!folder) {
      showError('RNN Lab: the example experiments need an open folder to keep their runs in. Open a folder and try again.');
      return [];
    }
    const overrides = args.find((a) => a && typeof a === 'object' && !Array.isArray(a)) as Record<string, unknown> | undefined;
    const names = args.flat().filter((a): a is string => typeof a === 'string');
    const bad = names.find((n) => !/^[\w.-]+$/.test(n) || n.startsWith('.'));
    if (names.length === 0 || bad !== undefined) {
      showError(`RNN Lab: unknown example ${JSON.stringify(bad ?? '')}`);
      return [];
    }
    const dir = vscode.Uri.joinPath(folder.uri, '.rnn-lab', 'examples');
    await vscode.workspace.fs.createDirectory(dir);
    const data = vscode.Uri.joinPath(dir, 'austen_pride_prejudice.txt');
    if (!(await exists(data))) {
      await vscode.workspace.fs.copy(vscode.Uri.joinPath(context.extensionUri, 'data', 'austen_pride_prejudice.txt'), data);
    }
    const ids: string[] = [];
    for (const name of names) {
      const target = vscode.Uri.joinPath(dir, `${name}.rnn.json`);
      if (overrides || !(await exists(target))) {
        let example: Record<string, unknown>;
        try {
          example = JSON.parse(new TextDecoder().decode(await vscode.workspace.fs.readFile(vscode.Uri.joinPath(context.extensionUri, 'media', 'examples', `${name}.rnn.json`))));
        } catch {
          showError(`RNN Lab: unknown example "${name}"`);
          continue;
        }
        await vscode.workspace.fs.writeFile(target, new TextEncoder().encode(JSON.stringify({ ...example, ...overrides }, null, 2) + '\n'));
      }
      const id = await train(target);
      if (id) ids.push(id);
    }
    return ids;
  };

  context.subscriptions.push(
    vscode.commands.registerCommand('rnnLab.runExample', (...args: unknown[]) => runExample(args)),
    vscode.commands.registerCommand('rnnLab.sample', (arg?: unknown) => sampleFromModel(arg)),
    vscode.commands.registerCommand('rnnLab.deleteRun', (arg?: unknown) => deleteRun(arg)),
    output,
    statusBar,
    vscode.window.createTreeView('rnnLab.runs', { treeDataProvider: runs, canSelectMany: true }),
    vscode.window.registerWebviewViewProvider(DiagnosticsViewProvider.viewId, diagnostics),
    vscode.commands.registerCommand('rnnLab.train', (arg?: unknown) => train(arg)),
    vscode.commands.registerCommand('rnnLab.stopTraining', () => stopTraining()),
    vscode.commands.registerCommand('rnnLab.resumeRun', (arg?: unknown) => resumeRun(arg)),
    { dispose: () => active.forEach((r) => r.session.dispose()) },
  );
  registerImportCommand(context, { store, refreshRuns, errors });
  void refreshRuns();
  const selection = registerSelectionCommands(context, store, showError);

  return {
    selection,
    runs,
    diagnostics,
    store,
    errors,
    activeRuns: () => [...active.keys()],
    whenDone: (id) => active.get(id)?.stored ?? (endedRuns.has(id) ? Promise.resolve(endedRuns.get(id)!) : undefined),
    refreshRuns,
    useWorkerScriptForTests: (script) => (workerScriptForTests = script),
    workerCounts: () => ({ ...workerCounts }),
    hostWork,
  };
}

export function deactivate(): void {}

function settingsDefaults(): Partial<RunConfig> {
  const cfg = vscode.workspace.getConfiguration('rnnLab');
  const out: Partial<RunConfig> = {};
  const diagEvery = cfg.get<number>('diagEvery');
  if (typeof diagEvery === 'number') out.diagEvery = diagEvery;
  const maxFileBytes = cfg.get<number>('maxFileBytes');
  if (typeof maxFileBytes === 'number') out.maxFileBytes = maxFileBytes;
  const lr = cfg.get<number>('learningRate');
  if (typeof lr === 'number') out.lr = lr;
  const optimizer = cfg.get<RunConfig['optimizer']>('optimizer');
  if (optimizer) out.optimizer = optimizer;
  const clipMode = cfg.get<RunConfig['clipMode']>('clipMode');
  if (clipMode) out.clipMode = clipMode;
  const clip = cfg.get<number>('clipThreshold');
  if (typeof clip === 'number') out.clip = clip;
  return out;
}

function toItem(run: StoredRun, last: MetricsRecord | undefined): RunItem {
  const c = run.config;
  const parts: string[] = [run.status];
  if (c) parts.push(`${c.cell.toUpperCase()} ${c.layers}x${c.hidden}`);
  const loss = run.summary?.loss ?? last?.loss;
  const bpc = run.summary?.bpc ?? last?.bpc;
  if (loss !== undefined) parts.push(`loss ${loss.toFixed(3)}`);
  if (bpc !== undefined) parts.push(`bpc ${bpc.toFixed(3)}`);
  const step = run.summary?.step ?? last?.step;
  if (step !== undefined) parts.push(`step ${step}`);
  const stamp = /^(\d{4})(\d{2})(\d{2})-(\d{2})(\d{2})/.exec(run.id);
  if (stamp) parts.push(`${stamp[1]}-${stamp[2]}-${stamp[3]} ${stamp[4]}:${stamp[5]}`);
  return { id: run.id, label: c?.name ?? run.id, description: parts.join(' · '), status: run.status };
}

function errorText(e: unknown): string {
  if (e instanceof Error) {
    const hint = (e as { hint?: unknown }).hint;
    return typeof hint === 'string' && hint ? `${e.message}. ${hint}` : e.message;
  }
  return String(e);
}
