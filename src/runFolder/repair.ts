/**
 * What resuming a run repairs before it appends anything: its JSONL records (a torn last line, and
 * records past the checkpoint a killed run wrote after it) and what a hand-edited config.json may
 * change. Pure: no vscode, no node.
 */
import type { RunConfig } from '../protocol/config';
import { validateConfig } from '../engine/config';
import { EngineError } from '../engine/errors';

/**
 * The text of a JSONL file (or chunk) as a resume must leave it: the lines of records up to
 * `lastStep`, each ending in a newline. A last line without its newline that does not parse is a
 * write cut short and goes; one that parses is kept and ended. Returns undefined when the text is
 * already so (nothing to write). Throws on any other line that does not parse: that is damage a
 * resume must not paper over.
 */
export function repairJsonl(text: string, lastStep: number, where: string): string | undefined {
  const lines = text.split('\n');
  const endsWithNewline = text.endsWith('\n');
  const kept: string[] = [];
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    let record: unknown;
    try {
      record = JSON.parse(line);
    } catch {
      if (i === lines.length - 1 && !endsWithNewline) return;
      throw new EngineError('bad-config', `${where} line ${i + 1} is not a JSON record`, "The run's files were edited or damaged; remove that line, then resume.");
    }
    const step = (record as { step?: unknown } | null)?.step;
    if (typeof step === 'number' && step > lastStep) return;
    kept.push(line);
  });
  const repaired = kept.map((l) => l + '\n').join('');
  return repaired === text ? undefined : repaired;
}

/**
 * The repaired texts of a JSONL file's chunks (oldest first) for a resume from `lastStep`: an
 * entry per chunk, `undefined` to leave it, `null` to remove it (wholly past the checkpoint, and
 * not the first). Newest first: the records are in step order, so the chunks before the one
 * holding the checkpoint's step are left as they are, unread.
 */
export async function repairJsonlChunks(read: (index: number) => Promise<string>, count: number, lastStep: number, where: (index: number) => string): Promise<(string | null | undefined)[]> {
  const out: (string | null | undefined)[] = new Array(count).fill(undefined);
  for (let i = count - 1; i >= 0; i--) {
    const text = await read(i);
    const repaired = repairJsonl(text, lastStep, where(i));
    const after = repaired ?? text;
    if (after === '' && i > 0) {
      out[i] = null;
      continue;
    }
    out[i] = repaired;
    // A chunk that keeps a record holds the checkpoint's step or ends before it: older ones are whole.
    if (after !== '') break;
  }
  return out;
}

/**
 * Fields of config.json a resume honours when the user edited them: they say how long to train,
 * what to record and where the data is, not what is trained. Any other field must equal the
 * checkpoint's, or the weights it holds would not be the run's.
 */
export const RESUME_EDITABLE: readonly (keyof RunConfig)[] = ['steps', 'name', 'data', 'maxFileBytes', 'evalEvery', 'diagEvery', 'spectrumEvery', 'checkpointEvery', 'checkpointSeconds'];

/**
 * The config a resume trains with: the checkpoint's, with the fields of config.json (`edited`,
 * as parsed; undefined when there is none) that a resume may change. Throws one line naming the
 * first field that differs and may not change, or config.json's own problem.
 */
export function resumedConfig(checkpointConfig: RunConfig, edited: unknown, where: string): RunConfig {
  if (edited === undefined) return checkpointConfig;
  const config = validateConfig(edited, where).config;
  for (const key of Object.keys(checkpointConfig) as (keyof RunConfig)[]) {
    if (RESUME_EDITABLE.includes(key)) continue;
    if (JSON.stringify(config[key]) !== JSON.stringify(checkpointConfig[key])) {
      throw new EngineError(
        'bad-config',
        `${where}: "${key}" is ${JSON.stringify(config[key])} but the checkpoint was trained with ${JSON.stringify(checkpointConfig[key])}`,
        `A resume keeps what is trained; only ${RESUME_EDITABLE.join(', ')} may change. Put it back, or train a new run.`,
      );
    }
  }
  const out = { ...checkpointConfig };
  for (const key of RESUME_EDITABLE) (out as Record<string, unknown>)[key] = config[key];
  return out;
}
