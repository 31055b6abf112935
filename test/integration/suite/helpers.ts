import * as vscode from 'vscode';
import type { RnnLabApi } from '../../../src/extension/extension';

export const extensionId = 'rnn-lab.rnn-lab';

/**
 * Which extension host runs the suite: 'web' (VS Code for the web: a Web Worker, no Node) or
 * 'node' (code-server, the host desktop VS Code uses). The bundle's `process` is the real one in
 * the Node host and a small shim in the web host (processShim.ts).
 */
export const hostKind: 'node' | 'web' = typeof process === 'object' && typeof (process as { versions?: { node?: string } }).versions?.node === 'string' ? 'node' : 'web';

/** Percentiles of a sample (nearest rank): p50, p99 and max, in the sample's unit. */
export function percentiles(values: readonly number[]): { p50: number; p99: number; max: number; n: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
  return { p50: rank(0.5), p99: rank(0.99), max: sorted[sorted.length - 1], n: sorted.length };
}

export async function activateExtension(): Promise<RnnLabApi> {
  const ext = vscode.extensions.getExtension<RnnLabApi>(extensionId);
  if (!ext) throw new Error(`extension ${extensionId} is not installed in this host`);
  return ext.activate();
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls until `check` returns a value other than undefined, or fails after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => T | undefined | Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

/**
 * Asks the runner (test/integration/run.mjs or runNode.mjs) for a screenshot of the whole
 * workbench, and waits until the PNG exists so the test does not change the UI under the camera.
 * The runner writes into <repo>/test-output/screenshots/ (web) or screenshots-node/ (Node host),
 * inside the extension's folder: the test sees it through the extension's own URI (http in the
 * web host, the disk in the Node host).
 */
export async function screenshot(name: string): Promise<void> {
  if (!/^[\w.-]+$/.test(name)) throw new Error(`screenshot name must be a plain file name: ${name}`);
  console.log(`SCREENSHOT:${name}`);
  await waitFor(`screenshot ${name}.png`, () => screenshotExists(name), 30_000);
}

/** Whether the runner has saved screenshot `name` (in this run: the runner clears old ones first). */
export async function screenshotExists(name: string): Promise<true | undefined> {
  const ext = vscode.extensions.getExtension(extensionId);
  if (!ext) throw new Error(`extension ${extensionId} is not installed in this host`);
  const dir = hostKind === 'node' ? 'screenshots-node' : 'screenshots';
  return exists(vscode.Uri.joinPath(ext.extensionUri, 'test-output', dir, `${name}.png`));
}

async function exists(uri: vscode.Uri): Promise<true | undefined> {
  try {
    if (uri.scheme === 'http' || uri.scheme === 'https') {
      const res = await fetch(uri.toString(true), { method: 'HEAD', cache: 'no-store' });
      return res.ok ? true : undefined;
    }
    await vscode.workspace.fs.stat(uri);
    return true;
  } catch {
    return undefined;
  }
}

/**
 * A recorded run of test/fixtures/runs copied into this workspace's run store, as `rnn-lab train`
 * would leave it; returns its folder (delete it when done).
 */
export async function copyFixtureRun(api: RnnLabApi, id: string, files: string[]): Promise<vscode.Uri> {
  const ext = vscode.extensions.getExtension(extensionId);
  if (!ext) throw new Error(`extension ${extensionId} is not installed in this host`);
  const from = vscode.Uri.joinPath(ext.extensionUri, 'test', 'fixtures', 'runs', id);
  const to = api.store.runUri(id);
  await vscode.workspace.fs.createDirectory(to);
  for (const f of files) await vscode.workspace.fs.writeFile(vscode.Uri.joinPath(to, f), await vscode.workspace.fs.readFile(vscode.Uri.joinPath(from, f)));
  return to;
}
