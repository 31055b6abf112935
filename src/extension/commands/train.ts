/**
 * Train RNN: from a *.rnn.json run config (palette on an open config, the explorer's context
 * menu, the examples), or from a data file with three quick picks (file, cell, size) over the
 * settings' defaults. Either way ActiveRuns.start takes it from there; a sweep config's grid goes to
 * Sweeps (sweeps.ts), and the command resolves with the sweep's id instead of a run's.
 */
import * as vscode from 'vscode';
import { DEFAULT_CONFIG, resolveDataPath, validateConfig } from '../../engine/config';
import { expandSweep, isSweepConfig, type ExpandedSweep } from '../../engine/sweep';
import { usesDataFile, type CellKind, type RunConfig } from '../../protocol/config';
import { errorText } from '../feedback';
import type { Services } from '../services';
import { readSettings, type SizePreset } from '../settings';
import { readJsonFile } from '../workspaceFiles';
import { loadDataFile, readDataFile } from './dataFile';
import { refuseUntrusted } from './trust';

const sizePresets: Record<SizePreset, Partial<RunConfig>> = {
  tiny: { layers: 1, hidden: 32, seqLength: 25, batch: 4, steps: 200 },
  small: { layers: 1, hidden: 128, seqLength: 50, batch: 16, steps: 1000 },
  medium: { layers: 2, hidden: 256, seqLength: 64, batch: 32, steps: 3000 },
};

export type TrainCommand = (arg?: unknown) => Promise<string | undefined>;

export function registerTrain(s: Services): TrainCommand {
  const { feedback } = s;

  const train: TrainCommand = async (arg) => {
    if (refuseUntrusted(feedback, 'training')) return undefined;
    const folder = vscode.workspace.workspaceFolders?.[0];
    let uri = arg instanceof vscode.Uri ? arg : undefined;
    if (!uri) {
      const doc = vscode.window.activeTextEditor?.document;
      if (doc && doc.uri.scheme !== 'untitled' && /\.(txt|md|csv|rnn\.json)$/i.test(doc.uri.path)) uri = doc.uri;
    }
    if (uri && uri.path.endsWith('.rnn.json')) return trainFromConfigFile(uri);
    if (!uri) {
      if (!folder) {
        void feedback.error('RNN Lab: open a folder with a data file or a *.rnn.json run config first.');
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
    return trainOnDataFile(uri);
  };

  const trainOnDataFile = async (uri: vscode.Uri): Promise<string | undefined> => {
    const settings = readSettings();
    const isCsv = uri.path.toLowerCase().endsWith('.csv');
    const rel = vscode.workspace.asRelativePath(uri, false);
    const dataText = await readDataFile(feedback, uri, settings.runDefaults.maxFileBytes ?? DEFAULT_CONFIG.maxFileBytes, rel);
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
    const defaultFirst = <T extends { value: string }>(items: T[], wanted: string | undefined): T[] =>
      [...items].sort((a, b) => Number(b.value === wanted) - Number(a.value === wanted));
    const cell = await vscode.window.showQuickPick(
      defaultFirst(
        [
          { label: 'LSTM', value: 'lstm' as CellKind },
          { label: 'GRU', value: 'gru' as CellKind },
          { label: 'RNN', description: 'vanilla tanh RNN', value: 'rnn' as CellKind },
        ],
        settings.defaultCell,
      ),
      { title: 'RNN Lab: cell' },
    );
    if (!cell) return undefined;
    const size = await vscode.window.showQuickPick(
      defaultFirst(
        (Object.entries(sizePresets) as [SizePreset, Partial<RunConfig>][]).map(([label, p]) => ({ label, value: label, description: `${p.layers}x${p.hidden}, seq ${p.seqLength}, batch ${p.batch}, ${p.steps} steps` })),
        settings.defaultSize,
      ),
      { title: 'RNN Lab: size' },
    );
    if (!size) return undefined;
    const base = uri.path.split('/').pop()!.replace(/\.[^.]+$/, '');
    const config: RunConfig = {
      ...DEFAULT_CONFIG,
      ...settings.runDefaults,
      ...sizePresets[size.value],
      name: `${base}-${cell.value}-${size.label}`,
      task: isCsv ? 'forecast' : 'charlm',
      data: rel,
      ...(columns ? { columns } : {}),
      cell: cell.value,
    };
    try {
      validateConfig(config, 'settings');
    } catch (e) {
      void feedback.error(`RNN Lab: ${errorText(e)}`, 'Open Settings').then((a) => (a ? vscode.commands.executeCommand('workbench.action.openSettings', 'rnnLab') : undefined));
      return undefined;
    }
    return s.runs.start(config, dataText);
  };

  const trainFromConfigFile = async (configUri: vscode.Uri): Promise<string | undefined> => {
    const fail = (message: string): undefined => {
      feedback.output.appendLine(`error: ${message}`);
      void feedback.error(`RNN Lab: ${message}`, 'Open Config').then((a) => (a ? vscode.window.showTextDocument(configUri) : undefined));
      return undefined;
    };
    const rel = vscode.workspace.asRelativePath(configUri, false);
    let config: RunConfig;
    // A sweep config: its whole grid, validated here before any of it starts (sweeps.ts queues it).
    let grid: ExpandedSweep | undefined;
    let source: Record<string, unknown> = {};
    try {
      const raw = (await readJsonFile(configUri, rel, 'Fix the JSON and try again.')) as Record<string, unknown>;
      // Settings fill what the file does not say.
      const merged = typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? { ...readSettings().runDefaults, ...raw } : raw;
      if (isSweepConfig(merged)) {
        grid = expandSweep(merged, rel);
        source = merged;
        grid.warnings.forEach((w) => feedback.log(`warning: ${w}`));
        config = grid.runs[0].config;
      } else config = validateConfig(merged, rel).config;
    } catch (e) {
      return fail(`${rel}: ${errorText(e)}`);
    }
    // Every run of a sweep reads the same data file (a sweep cannot vary "data").
    const start = (data: string, dataText: string): Promise<string> =>
      grid ? s.sweeps.start({ ...grid, runs: grid.runs.map((r) => ({ ...r, config: { ...r.config, data } })) }, dataText, { ...source, data }) : s.runs.start({ ...config, data }, dataText);
    if (!usesDataFile(config)) return start(config.data, '');
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
    return start(vscode.workspace.asRelativePath(dataUri, false), dataText);
  };

  s.context.subscriptions.push(vscode.commands.registerCommand('rnnLab.train', (arg?: unknown) => train(arg)));
  return train;
}
