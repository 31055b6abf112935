/**
 * The extension's settings (package.json contributes.configuration), typed and read here only.
 * Read when used, never cached: a changed setting applies to the next command.
 */
import * as vscode from 'vscode';
import type { CellKind, ClipMode, OptimizerKind, Precision, RunConfig } from '../protocol/config';

export type SizePreset = 'tiny' | 'small' | 'medium';

export interface Settings {
  /** Run-config defaults: a config file's own fields win over these. */
  runDefaults: Partial<RunConfig>;
  defaultCell: CellKind | undefined;
  defaultSize: SizePreset | undefined;
  /** Runs in the extension's global storage instead of <workspace>/.rnn-lab/runs. */
  globalRunStore: boolean;
  /** Starting a run reveals the Diagnostics view on it (without taking the focus). */
  revealOnTrain: boolean;
  selection: { maxChars: number; contextChars: number };
  continuation: { length: number; temperature: number; topK: number };
  /** Runs of a sweep trained at once (0: the cores minus one, at least 1); the rest wait in a queue. */
  sweepConcurrency: number;
}

export function readSettings(): Settings {
  const cfg = vscode.workspace.getConfiguration('rnnLab');
  const num = (key: string): number | undefined => {
    const v = cfg.get<unknown>(key);
    return typeof v === 'number' ? v : undefined;
  };
  const str = <T extends string>(key: string): T | undefined => {
    const v = cfg.get<unknown>(key);
    return typeof v === 'string' && v !== '' ? (v as T) : undefined;
  };
  const runDefaults: Partial<RunConfig> = {};
  const set = <K extends keyof RunConfig>(key: K, value: RunConfig[K] | undefined): void => {
    if (value !== undefined) runDefaults[key] = value;
  };
  set('diagEvery', num('diagEvery'));
  set('maxFileBytes', num('maxFileBytes'));
  set('lr', num('learningRate'));
  set('optimizer', str<OptimizerKind>('optimizer'));
  set('clipMode', str<ClipMode>('clipMode'));
  set('clip', num('clipThreshold'));
  set('checkpointSeconds', num('checkpointSeconds'));
  set('precision', str<Precision>('precision'));
  set('workers', num('workers'));
  return {
    runDefaults,
    defaultCell: str<CellKind>('defaultCell'),
    defaultSize: str<SizePreset>('defaultSize'),
    globalRunStore: cfg.get<string>('runStoreLocation') === 'global',
    revealOnTrain: cfg.get<boolean>('revealOnTrain') !== false,
    selection: { maxChars: num('selection.maxChars') ?? 5000, contextChars: num('selection.contextChars') ?? 200 },
    sweepConcurrency: Math.max(0, Math.floor(num('sweepConcurrency') ?? 0)),
    continuation: { length: num('continue.length') ?? 100, temperature: num('continue.temperature') ?? 0.8, topK: num('continue.topK') ?? 0 },
  };
}
