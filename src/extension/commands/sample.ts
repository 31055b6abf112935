/**
 * Sample from Model: text from a character model (its latest checkpoint, also while it trains) in a new untitled editor. Runs on the
 * host: a few hundred single steps of a small model take milliseconds, and the length is capped.
 * Programmatic: { runId, temperature, length, prime }.
 */
import * as vscode from 'vscode';
import { loadCheckpoint } from '../../engine/checkpoint';
import { Rng } from '../../engine/random';
import { sampleText } from '../../engine/sample';
import { latestModel } from '../../runFolder/generation';
import { errorText } from '../feedback';
import type { Services } from '../services';
import { refuseUntrusted } from './trust';

/** The bounds `rnn-lab sample` has too. */
const MAX_TEMPERATURE = 1000;
const MAX_LENGTH = 20_000;
const MAX_PRIME = 10_000;
const temperatureOk = (t: unknown): t is number => typeof t === 'number' && t > 0 && t <= MAX_TEMPERATURE;
const lengthOk = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= MAX_LENGTH;

export function registerSample(s: Services): void {
  const { feedback } = s;
  const sampleFromModel = async (arg?: unknown): Promise<string | undefined> => {
    if (refuseUntrusted(feedback, 'sampling')) return undefined;
    const run = await s.picker.pickWithModel(arg, 'Sample from which run?', (r) => r.config?.task === 'charlm');
    if (!run) return undefined;
    const opts = (typeof arg === 'object' && arg) as { temperature?: unknown; length?: unknown; prime?: unknown } | false;
    let temperature = opts ? opts.temperature : undefined;
    let length = opts ? opts.length : undefined;
    let prime = opts ? opts.prime : undefined;
    if (temperature === undefined) {
      const t = await vscode.window.showInputBox({ title: `Temperature (above 0, at most ${MAX_TEMPERATURE}; near 0 is greedy)`, value: '0.8', validateInput: (v) => (temperatureOk(Number(v)) ? undefined : `a number above 0, at most ${MAX_TEMPERATURE}`) });
      if (t === undefined) return undefined;
      temperature = Number(t);
    }
    if (length === undefined) {
      const l = await vscode.window.showInputBox({ title: `How many characters (1 to ${MAX_LENGTH})`, value: '500', validateInput: (v) => (lengthOk(Number(v)) ? undefined : `a whole number from 1 to ${MAX_LENGTH}`) });
      if (l === undefined) return undefined;
      length = Number(l);
    }
    if (prime === undefined) {
      prime = await vscode.window.showInputBox({ title: 'Priming text (optional)', value: '', validateInput: (v) => (v.length <= MAX_PRIME ? undefined : `at most ${MAX_PRIME} characters`) });
      if (prime === undefined) return undefined;
    }
    // Programmatic callers pass anything: each value is checked as the input boxes check it.
    if (!temperatureOk(temperature) || !lengthOk(length) || typeof prime !== 'string' || prime.length > MAX_PRIME) {
      void feedback.error(`RNN Lab: temperature must be above 0 (a number, at most ${MAX_TEMPERATURE}), length a whole number from 1 to ${MAX_LENGTH}, and the priming text at most ${MAX_PRIME} characters`);
      return undefined;
    }
    let text: string;
    try {
      // The latest checkpoint generation: a run that trains is sampled as of its last checkpoint.
      const latest = await latestModel(run.fs, run.dir);
      if ('problem' in latest) throw new Error(latest.problem);
      const model = loadCheckpoint(latest.bytes, latest.where);
      text = prime + sampleText(model.net, model.vocab!, { length, temperature, topK: 0, prime }, new Rng(Date.now() >>> 0));
    } catch (e) {
      void feedback.error(`RNN Lab: cannot sample from ${run.id}: ${errorText(e)}`);
      return undefined;
    }
    const doc = await vscode.workspace.openTextDocument({ content: text, language: 'plaintext' });
    await vscode.window.showTextDocument(doc, { preview: false });
    return text;
  };
  s.context.subscriptions.push(vscode.commands.registerCommand('rnnLab.sample', (arg?: unknown) => sampleFromModel(arg)));
}
