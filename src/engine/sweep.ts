/**
 * Sweeps: a run config with `"sweep": {"hiddenScale": [0.5, 1, 1.5], "cell": ["rnn", "lstm"]}` is
 * the grid of configs the cartesian product of its lists gives. Every config of the grid is built
 * and validated here before any run starts, so a bad key or value is one error up front.
 *
 * Order: the keys in the order written, the last varying fastest (nested loops, as Python's
 * itertools.product): the example gives (0.5, rnn), (0.5, lstm), (1, rnn), (1, lstm), ...
 */
import type { RunConfig, SweepValue } from '../protocol/config';
import { closestKey, isConfigKey, validateConfig } from './config';
import { clip, EngineError } from './errors';
import { describeValue } from './json';

/** The most runs one sweep may hold: each is a worker and a run folder. */
export const MAX_SWEEP_RUNS = 64;

/** Fields a sweep cannot vary: the run's name is made from the values, and a data file is one per sweep. */
const FIXED_FIELDS: readonly string[] = ['name', 'data', 'columns'];

export interface SweepRun {
  config: RunConfig;
  /** The varied fields with this run's values, in the sweep's key order. */
  values: Record<string, SweepValue>;
}

export interface ExpandedSweep {
  /** The sweep config's own name (its runs are named after it and their values). */
  name: string;
  keys: string[];
  runs: SweepRun[];
  warnings: string[];
}

/** Whether a parsed config file describes a sweep. */
export function isSweepConfig(raw: unknown): raw is Record<string, unknown> & { sweep: unknown } {
  return !!raw && typeof raw === 'object' && !Array.isArray(raw) && Object.hasOwn(raw, 'sweep');
}

/** "hiddenScale=0.5 cell=rnn": a run's varied values in one label. */
export function sweepLabel(values: Record<string, SweepValue>): string {
  return Object.entries(values)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
}

/**
 * The grid of a sweep config, each config validated. Throws one EngineError naming the bad key or
 * value: `sweep` not an object or empty, a key that is no config field (or one a sweep cannot
 * vary), a list that is empty, has duplicates or a value the field refuses, or more than
 * MAX_SWEEP_RUNS runs in all.
 */
export function expandSweep(raw: Record<string, unknown>, where = 'config'): ExpandedSweep {
  const fail = (what: string, hint: string): never => {
    throw new EngineError('bad-config', `${where}: ${what}`, hint);
  };
  const sweep = raw.sweep;
  if (!sweep || typeof sweep !== 'object' || Array.isArray(sweep)) {
    fail(`"sweep" must be an object of lists, got ${describeValue(sweep)}`, 'Write e.g. "sweep": {"hiddenScale": [0.5, 1, 1.5], "cell": ["rnn", "lstm"]}.');
  }
  const entries = Object.entries(sweep as Record<string, unknown>);
  if (entries.length === 0) fail('"sweep" is empty', 'Give at least one field with a list of values, e.g. "sweep": {"cell": ["rnn", "lstm"]}.');
  const base: Record<string, unknown> = Object.fromEntries(Object.entries(raw).filter(([k]) => k !== 'sweep'));
  const { config: baseConfig, warnings } = validateConfig(base, where);
  const lists: [string, SweepValue[]][] = [];
  let total = 1;
  for (const [key, list] of entries) {
    const shownKey = JSON.stringify(clip(key, 60));
    if (!isConfigKey(key)) {
      const near = closestKey(key);
      fail(`"sweep" has unknown field ${shownKey}${near ? ` (did you mean "${near}"?)` : ''}`, 'A sweep varies run config fields (cell, hidden, lr, hiddenScale, attention, ...).');
    }
    if (FIXED_FIELDS.includes(key)) fail(`"sweep" cannot vary ${shownKey}`, key === 'name' ? "Each run's name is made from the sweep's name and its values." : 'Give one data file per sweep; write one sweep config per file.');
    if (!Array.isArray(list)) fail(`"sweep".${key} must be a list of values, got ${describeValue(list)}`, `Write e.g. "${key}": [${describeValue(baseConfig[key as keyof RunConfig])}, ...].`);
    const values = list as unknown[];
    if (values.length === 0) fail(`"sweep".${key} is an empty list`, 'Give at least one value, or drop the field from "sweep".');
    const seen = new Set<unknown>();
    for (const value of values) {
      if (typeof value !== 'number' && typeof value !== 'string') fail(`"sweep".${key} holds ${describeValue(value)}, not a number or a string`, 'Each value of a sweep list is one value of the field.');
      if (seen.has(value)) fail(`"sweep".${key} lists ${describeValue(value)} twice`, 'Each value once: the same run twice would only repeat itself.');
      seen.add(value);
      // The field's own rule, with the key and value named: `"sweep".cell: "cell" must be one of ...`.
      try {
        validateConfig({ ...base, [key]: value }, `${where}: "sweep".${key}`);
      } catch (e) {
        if (e instanceof EngineError) throw new EngineError('bad-config', e.message, 'Fix that value in the sweep list.');
        throw e;
      }
    }
    total *= values.length;
    if (total > MAX_SWEEP_RUNS) fail(`"sweep" makes ${entries.reduce((n, [, l]) => n * (Array.isArray(l) ? Math.max(1, l.length) : 1), 1)} runs, more than ${MAX_SWEEP_RUNS}`, 'Sweep fewer values at once (several sweep configs, or shorter lists).');
    lists.push([key, values as SweepValue[]]);
  }
  const runs: SweepRun[] = [];
  const name = baseConfig.name;
  for (let i = 0; i < total; i++) {
    // Mixed radix, last key fastest.
    const values: Record<string, SweepValue> = {};
    let rest = i;
    for (let k = lists.length - 1; k >= 0; k--) {
      const [key, list] = lists[k];
      values[key] = list[rest % list.length];
      rest = Math.floor(rest / list.length);
    }
    const ordered = Object.fromEntries(lists.map(([key]) => [key, values[key]]));
    const runName = Array.from(`${name} ${sweepLabel(ordered)}`).slice(0, 100).join('');
    const { config } = validateConfig({ ...base, ...ordered, name: runName }, `${where}: sweep run ${i + 1} (${sweepLabel(ordered)})`);
    runs.push({ config, values: ordered });
  }
  return { name, keys: lists.map(([k]) => k), runs, warnings };
}
