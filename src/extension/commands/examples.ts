/**
 * The walkthrough's experiments: each example config shipped in media/examples (one sweep per
 * experiment: sigma, clip, compare, attention-reverse, attention-dates) is copied with the bundled
 * sample text into <workspace>/.rnn-lab/examples/ (existing copies, which a user may have edited,
 * are kept) and trained. Command links pass the names as separate arguments; a trailing object
 * overrides config fields (tests use it for short runs). Resolves with what Train RNN resolved
 * with for each: a sweep's id for a sweep config, a run's id otherwise.
 */
import * as vscode from 'vscode';
import type { Services } from '../services';
import { exists } from '../workspaceRunFs';
import type { TrainCommand } from './train';
import { refuseUntrusted } from './trust';

export function registerExamples(s: Services, train: TrainCommand): void {
  const { feedback, context } = s;
  const runExample = async (args: unknown[]): Promise<string[]> => {
    if (refuseUntrusted(feedback, 'running the examples')) return [];
    const folder = vscode.workspace.workspaceFolders?.[0];
    if (!folder) {
      void feedback.error('RNN Lab: the example experiments need an open folder to keep their runs in. Open a folder and try again.');
      return [];
    }
    const overrides = args.find((a) => a && typeof a === 'object' && !Array.isArray(a)) as Record<string, unknown> | undefined;
    const names = args.flat().filter((a): a is string => typeof a === 'string');
    const bad = names.find((n) => !/^[\w.-]+$/.test(n) || n.startsWith('.'));
    if (names.length === 0 || bad !== undefined) {
      void feedback.error(`RNN Lab: unknown example ${JSON.stringify(bad ?? '')}`);
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
          void feedback.error(`RNN Lab: unknown example "${name}"`);
          continue;
        }
        await vscode.workspace.fs.writeFile(target, new TextEncoder().encode(JSON.stringify({ ...example, ...overrides }, null, 2) + '\n'));
      }
      const id = await train(target);
      if (id) ids.push(id);
    }
    return ids;
  };
  context.subscriptions.push(vscode.commands.registerCommand('rnnLab.runExample', (...args: unknown[]) => runExample(args)));
}
