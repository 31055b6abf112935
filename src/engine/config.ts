/**
 * Run configs: defaults, and validation of what a user wrote (a *.rnn.json file or CLI flags).
 * A bad field is one EngineError naming the field and what it accepts.
 */
import { SEQ2SEQ_TASKS, type RunConfig } from '../protocol/config';
import { clip, EngineError } from './errors';
import { describeValue } from './json';

export const DEFAULT_CONFIG: RunConfig = {
  name: 'run',
  task: 'charlm',
  data: '',
  cell: 'lstm',
  gruVariant: 'reset_after',
  rnnActivation: 'tanh',
  layers: 1,
  hidden: 128,
  embedding: 0,
  dropout: 0,
  seqLength: 50,
  batch: 16,
  steps: 300,
  lr: 0.005,
  lrDecay: 1,
  lrDecayEvery: 1000,
  optimizer: 'adam',
  momentum: 0.9,
  clipMode: 'norm',
  clip: 5,
  hiddenInit: 'orthogonal',
  hiddenScale: 1,
  forgetBias: 1,
  seed: 1,
  valFraction: 0.05,
  evalEvery: 100,
  diagEvery: 25,
  spectrumEvery: 100,
  maxFileBytes: 50 * 1024 * 1024,
  checkpointEvery: 0,
  checkpointSeconds: 30,
  attention: 'dot',
  attentionSize: 0,
  srcLen: '5-10',
  alphabet: 'digits',
  teacherForcing: 1,
  tokenization: 'char',
  heldOut: 1000,
  pinned: 3,
  precision: 'float32',
  workers: 0,
};

type Rule = { kind: 'int' | 'number' | 'range'; min: number; max: number } | { kind: 'enum'; values: string[] } | { kind: 'string'; maxLength: number } | { kind: 'columns' };

const RULES: Record<keyof RunConfig, Rule> = {
  // A run's name becomes part of its folder name: file systems refuse names over 255 bytes.
  name: { kind: 'string', maxLength: 100 },
  task: { kind: 'enum', values: ['charlm', 'forecast', ...SEQ2SEQ_TASKS] },
  data: { kind: 'string', maxLength: 4096 },
  columns: { kind: 'columns' },
  cell: { kind: 'enum', values: ['rnn', 'lstm', 'gru'] },
  gruVariant: { kind: 'enum', values: ['reset_after', 'reset_before'] },
  rnnActivation: { kind: 'enum', values: ['tanh', 'relu'] },
  layers: { kind: 'int', min: 1, max: 8 },
  hidden: { kind: 'int', min: 1, max: 4096 },
  embedding: { kind: 'int', min: 0, max: 4096 },
  dropout: { kind: 'number', min: 0, max: 0.95 },
  seqLength: { kind: 'int', min: 1, max: 10000 },
  batch: { kind: 'int', min: 1, max: 1024 },
  steps: { kind: 'int', min: 1, max: 10_000_000 },
  lr: { kind: 'number', min: 1e-12, max: 100 },
  lrDecay: { kind: 'number', min: 1e-6, max: 1 },
  lrDecayEvery: { kind: 'int', min: 1, max: 10_000_000 },
  optimizer: { kind: 'enum', values: ['sgd', 'adam', 'rmsprop', 'adagrad'] },
  momentum: { kind: 'number', min: 0, max: 0.9999 },
  clipMode: { kind: 'enum', values: ['norm', 'value', 'none'] },
  clip: { kind: 'number', min: 1e-12, max: 1e12 },
  hiddenInit: { kind: 'enum', values: ['orthogonal', 'identity', 'gaussian'] },
  hiddenScale: { kind: 'number', min: 0, max: 100 },
  forgetBias: { kind: 'number', min: -100, max: 100 },
  seed: { kind: 'int', min: 0, max: 4294967295 },
  valFraction: { kind: 'number', min: 0, max: 0.5 },
  evalEvery: { kind: 'int', min: 0, max: 10_000_000 },
  diagEvery: { kind: 'int', min: 0, max: 10_000_000 },
  spectrumEvery: { kind: 'int', min: 0, max: 10_000_000 },
  maxFileBytes: { kind: 'int', min: 1, max: 2 ** 40 },
  checkpointEvery: { kind: 'int', min: 0, max: 10_000_000 },
  checkpointSeconds: { kind: 'number', min: 0, max: 10_000_000 },
  attention: { kind: 'enum', values: ['none', 'dot', 'general', 'additive'] },
  attentionSize: { kind: 'int', min: 0, max: 4096 },
  srcLen: { kind: 'range', min: 1, max: 500 },
  alphabet: { kind: 'string', maxLength: 200 },
  teacherForcing: { kind: 'number', min: 0, max: 1 },
  tokenization: { kind: 'enum', values: ['char', 'word'] },
  heldOut: { kind: 'int', min: 1, max: 1_000_000 },
  pinned: { kind: 'int', min: 0, max: 16 },
  precision: { kind: 'enum', values: ['float32', 'float64'] },
  workers: { kind: 'int', min: 0, max: 256 },
};

/**
 * Fills defaults and validates. Unknown keys are returned as warnings, not errors, so a config
 * written for a newer version still runs.
 */
export function validateConfig(raw: unknown, where = 'config'): { config: RunConfig; warnings: string[] } {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new EngineError('bad-config', `${where} is not a JSON object`, 'Write the run config as { "cell": "lstm", ... }.');
  }
  const warnings: string[] = [];
  const out: Record<string, unknown> = { ...DEFAULT_CONFIG };
  for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
    if (key === '$schema') continue;
    // A sweep is a grid of configs (sweep.ts expandSweep); training only its base would be wrong silently.
    if (key === 'sweep') throw new EngineError('bad-config', `${where}: "sweep" describes a grid of runs, not one run`, 'Train the config file itself (Train RNN, or rnn-lab train FILE.rnn.json): each run of the grid starts on its own.');
    // Own keys only: "__proto__", "constructor" or "toString" must not find Object.prototype's members.
    const rule = Object.hasOwn(RULES, key) ? RULES[key as keyof RunConfig] : undefined;
    if (!rule) {
      const near = closestKey(key);
      warnings.push(`${where}: unknown key ${JSON.stringify(clip(key, 60))} ignored${near ? ` (did you mean "${near}"?)` : ''}`);
      continue;
    }
    const fail = (what: string): never => {
      throw new EngineError('bad-config', `${where}: ${JSON.stringify(clip(key, 60))} ${what}, got ${describeValue(value)}`, 'Fix that field and try again.');
    };
    switch (rule.kind) {
      case 'int':
      case 'number':
        if (typeof value !== 'number' || !Number.isFinite(value)) fail('must be a finite number');
        if (rule.kind === 'int' && !Number.isInteger(value)) fail('must be a whole number');
        if ((value as number) < rule.min || (value as number) > rule.max) fail(`must be between ${rule.min} and ${rule.max}`);
        break;
      case 'enum':
        if (typeof value !== 'string' || !rule.values.includes(value)) fail(`must be one of ${rule.values.join(', ')}`);
        break;
      case 'string':
        if (typeof value !== 'string') fail('must be a string');
        if ((value as string).length > rule.maxLength) fail(`must be at most ${rule.maxLength} characters long`);
        break;
      case 'range': {
        // "lo-hi" (or one number n for "n-n"), whole numbers with min <= lo <= hi <= max.
        const m = typeof value === 'string' ? /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(value) : null;
        const lo = m ? Number(m[1]) : NaN;
        const hi = m ? Number(m[2] ?? m[1]) : NaN;
        if (!m || lo < rule.min || hi > rule.max || lo > hi) fail(`must be "lo-hi" with ${rule.min} <= lo <= hi <= ${rule.max} (e.g. "5-10")`);
        break;
      }
      case 'columns':
        if (!Array.isArray(value) || !value.every((v) => typeof v === 'string' || (Number.isInteger(v) && v >= 0))) {
          fail('must be a list of column names or 0-based indices');
        }
        break;
    }
    Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
  }
  return { config: out as unknown as RunConfig, warnings };
}

/** A valid `srcLen` ("lo-hi" or "n") as [lo, hi]. */
export function parseSrcLen(srcLen: string): [number, number] {
  const [lo, hi = lo] = srcLen.split('-').map((x) => Number(x.trim()));
  return [lo, hi];
}

/** Whether `key` is a run config field. */
export function isConfigKey(key: string): key is keyof RunConfig {
  return Object.hasOwn(RULES, key);
}

/**
 * The known key a typo most likely meant: case-insensitive match, a field whose name ends with it
 * ("scale" for "hiddenScale"), or edit distance <= 2.
 */
export function closestKey(key: string): string | undefined {
  const lower = key.toLowerCase();
  const exact = Object.keys(RULES).find((k) => k.toLowerCase() === lower);
  if (exact) return exact;
  if (lower.length >= 4) {
    const suffix = Object.keys(RULES).find((k) => k.toLowerCase().endsWith(lower) || (lower.length >= 6 && k.toLowerCase().startsWith(lower)));
    if (suffix) return suffix;
  }
  let best: string | undefined;
  let bestDistance = 3;
  for (const known of Object.keys(RULES)) {
    if (known.toLowerCase() === key.toLowerCase()) return known;
    const d = editDistance(known.toLowerCase(), key.toLowerCase(), bestDistance);
    if (d < bestDistance) (best = known), (bestDistance = d);
  }
  return best;
}

function editDistance(a: string, b: string, cap: number): number {
  if (Math.abs(a.length - b.length) >= cap) return cap;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length];
}

/**
 * Where a run config's `data` points, as a path relative to the workspace folder, or an
 * EngineError when it would leave the folder. `configDir` is the config file's folder relative to
 * the workspace folder ('' at the top). Paths are '/'-separated and relative to the config file;
 * absolute paths, drive letters, URIs and backslashes are refused rather than guessed at.
 */
export function resolveDataPath(configDir: string, data: string, where: string): string {
  const refuse = (why: string): never => {
    throw new EngineError('bad-config', `${where}: "data" ${why}, got ${describeValue(data)}`, 'Give the data file as a path relative to the config file, inside the workspace folder (e.g. "data/input.txt").');
  };
  if (data.trim() === '') refuse('is empty');
  if (data.includes('\0')) refuse('contains a NUL character');
  if (data.includes('\\')) refuse('contains a backslash (use "/" between folders)');
  if (data.startsWith('/') || data.startsWith('~')) refuse('is an absolute path');
  if (/^[a-zA-Z][\w+.-]*:/.test(data)) refuse('is a URI or drive path, not a relative path');
  const parts: string[] = configDir.split('/').filter((p) => p !== '' && p !== '.');
  for (const seg of data.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (parts.length === 0) refuse('leads outside the workspace folder');
      parts.pop();
    } else parts.push(seg);
  }
  if (parts.length === 0) refuse('names a folder, not a file');
  return parts.join('/');
}
