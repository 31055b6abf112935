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

export function registerSample(s: Services): void {
  const { feedback } = s;
  const sampleFromModel = async (arg?: unknown): Promise<string | undefined> => {
    if (refuseUntrusted(feedback, 'sampling')) return undefined;
    const run = await s.picker.pickWithModel(arg, 'Sample from which run?', (r) => r.config?.task === 'charlm');
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
      void feedback.error('RNN Lab: temperature must be above 0 and length a whole number from 1 to 20000');
      return undefined;
    }
    let text: string;
    try {
      // The latest checkpoint generation: a run that trains is sampled as of its last checkpoint.
      const latest = await latestModel(s.store.fs, run.id);
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
