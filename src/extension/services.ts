/**
 * The services extension.ts builds once and hands to the command groups: each command file takes
 * what it needs from here.
 */
import type * as vscode from 'vscode';
import type { ActiveRuns } from './activeRuns';
import type { DiagnosticsViewProvider } from './diagnosticsView';
import type { Feedback } from './feedback';
import type { RunPicker } from './runPicker';
import type { RunsView } from './runsTree';
import type { RunStore } from './runStore';
import type { Sweeps } from './sweeps';
import type { WatchedRuns } from './watchedRuns';

export interface Services {
  context: vscode.ExtensionContext;
  store: RunStore;
  feedback: Feedback;
  runs: ActiveRuns;
  sweeps: Sweeps;
  runsView: RunsView;
  picker: RunPicker;
  diagnostics: DiagnosticsViewProvider;
  /** Run folders other processes write, and the folders added with Watch Run Folder.... */
  watched: WatchedRuns;
}
