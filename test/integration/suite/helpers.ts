import * as vscode from 'vscode';
import type { RnnLabApi } from '../../../src/extension/extension';

export const extensionId = 'rnn-lab.rnn-lab';

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
 * Asks the runner (test/integration/run.mjs) for a screenshot of the whole workbench, and waits
 * until the PNG exists so the test does not change the UI under the camera. The runner writes into
 * <repo>/test-output/screenshots/, which is inside the extension's folder: the test can see it
 * through the extension's own URI (served over http by the web test server).
 */
export async function screenshot(name: string): Promise<void> {
  if (!/^[\w.-]+$/.test(name)) throw new Error(`screenshot name must be a plain file name: ${name}`);
  console.log(`SCREENSHOT:${name}`);
  const ext = vscode.extensions.getExtension(extensionId);
  if (!ext) throw new Error(`extension ${extensionId} is not installed in this host`);
  const png = vscode.Uri.joinPath(ext.extensionUri, 'test-output', 'screenshots', `${name}.png`);
  await waitFor(`screenshot ${name}.png`, () => exists(png), 30_000);
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
