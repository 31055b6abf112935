import * as assert from 'assert';
import * as vscode from 'vscode';
import type { RnnLabApi } from '../../../src/extension/extension';
import { DiagnosticsViewProvider } from '../../../src/extension/diagnosticsView';
import { checkWebviewCsp } from '../../support/webviewCsp';
import { activateExtension, extensionId } from './helpers';

/**
 * Resolves a WebviewViewProvider into a real webview (a panel's: same Webview API, same
 * cspSource) and returns the HTML it generated. Point it at every webview view of the extension.
 */
async function renderView(provider: vscode.WebviewViewProvider): Promise<{ html: string; webview: vscode.Webview; dispose(): void }> {
  const panel = vscode.window.createWebviewPanel('rnnLab.cspProbe', 'CSP probe', { viewColumn: vscode.ViewColumn.Active, preserveFocus: true }, {});
  const view = {
    webview: panel.webview,
    viewType: 'rnnLab.cspProbe',
    title: 'CSP probe',
    visible: true,
    onDidDispose: panel.onDidDispose,
    onDidChangeVisibility: panel.onDidChangeViewState,
    show: () => undefined,
  } as unknown as vscode.WebviewView;
  const source = new vscode.CancellationTokenSource();
  await provider.resolveWebviewView(view, { state: undefined }, source.token);
  return { html: panel.webview.html, webview: panel.webview, dispose: () => panel.dispose() };
}

describe('security in the extension host', function () {
  this.timeout(60_000);
  let api: RnnLabApi;
  let folder: vscode.Uri;
  const written: vscode.Uri[] = [];

  before(async () => {
    api = await activateExtension();
    folder = vscode.workspace.workspaceFolders![0].uri;
  });
  after(async () => {
    for (const uri of written) await vscode.workspace.fs.delete(uri, { recursive: true }).then(undefined, () => undefined);
  });

  it('the Diagnostics webview HTML has a strict CSP: default-src none, a fresh script nonce, no unsafe-*, nothing remote', async () => {
    const ext = vscode.extensions.getExtension(extensionId)!;
    const first = await renderView(new DiagnosticsViewProvider(ext.extensionUri));
    const second = await renderView(new DiagnosticsViewProvider(ext.extensionUri));
    try {
      const assets = vscode.Uri.joinPath(ext.extensionUri, 'dist', 'webview');
      const report = checkWebviewCsp(first.html, first.webview.cspSource, [first.webview.asWebviewUri(assets).toString()]);
      assert.deepStrictEqual(report.problems, [], report.problems.join('\n'));
      const again = checkWebviewCsp(second.html, second.webview.cspSource, [second.webview.asWebviewUri(assets).toString()]);
      assert.ok(report.nonce && again.nonce && report.nonce !== again.nonce, 'the nonce is reused between renders');
      const roots = (first.webview.options.localResourceRoots ?? []).map((u) => u.toString());
      assert.deepStrictEqual(roots, [assets.toString()], 'localResourceRoots reach beyond the built webview assets');
      console.log(`Diagnostics webview CSP: ${Object.entries(report.directives).map(([k, v]) => `${k} ${v.map((s) => s.replace(/'nonce-.*'/, "'nonce-...'")).join(' ')}`).join('; ')}`);
    } finally {
      first.dispose();
      second.dispose();
    }
  });

  it('declares its Restricted Mode behaviour, and this trusted test workspace trains', () => {
    const ext = vscode.extensions.getExtension(extensionId)!;
    const caps = ext.packageJSON.capabilities?.untrustedWorkspaces;
    assert.strictEqual(caps?.supported, 'limited');
    assert.match(caps.description, /does not read the workspace's run configs or data files/);
    assert.strictEqual(vscode.workspace.isTrusted, true);
  });

  const outside: [string, string, RegExp][] = [
    ['escape.rnn.json', '../outside.txt', /leads outside the workspace folder/],
    ['deep-escape.rnn.json', 'a/../../../etc/passwd', /leads outside the workspace folder/],
    ['absolute.rnn.json', '/etc/passwd', /is an absolute path/],
    ['uri.rnn.json', 'file:///etc/passwd', /is a URI or drive path/],
    ['backslash.rnn.json', '..\\outside.txt', /backslash/],
  ];
  for (const [file, data, expected] of outside) {
    it(`a run config with data ${JSON.stringify(data)} is refused before anything is read or written`, async () => {
      const cfg = vscode.Uri.joinPath(folder, file);
      await vscode.workspace.fs.writeFile(cfg, new TextEncoder().encode(JSON.stringify({ name: 'escape', data, hidden: 4, steps: 2 })));
      written.push(cfg);
      const before = (await api.store.list()).length;
      const errors = api.errors.length;
      assert.strictEqual(await vscode.commands.executeCommand('rnnLab.train', cfg), undefined);
      assert.strictEqual(api.errors.length, errors + 1, 'expected one error message');
      assert.match(api.errors.at(-1)!, new RegExp(`${file.replace('.', '\\.')}.*"data" `));
      assert.match(api.errors.at(-1)!, expected);
      assert.match(api.errors.at(-1)!, /relative to the config file, inside the workspace folder/);
      assert.strictEqual((await api.store.list()).length, before, 'a run folder was created');
    });
  }

  /** Runs Train on a config and expects one error matching `expected`, no run folder, and a prompt return. */
  const refusedConfig = async (file: string, content: string, expected: RegExp) => {
    const cfg = vscode.Uri.joinPath(folder, file);
    await vscode.workspace.fs.writeFile(cfg, new TextEncoder().encode(content));
    written.push(cfg);
    const before = (await api.store.list()).length;
    const errors = api.errors.length;
    assert.strictEqual(await vscode.commands.executeCommand('rnnLab.train', cfg), undefined);
    assert.strictEqual(api.errors.length, errors + 1, 'expected one error message');
    assert.match(api.errors.at(-1)!, expected);
    assert.ok(!/\n/.test(api.errors.at(-1)!) && api.errors.at(-1)!.length < 400, api.errors.at(-1));
    assert.strictEqual((await api.store.list()).length, before, 'a run folder was created');
  };

  it('a run config whose data is a folder is refused in one message', async () => {
    await vscode.workspace.fs.createDirectory(vscode.Uri.joinPath(folder, 'data-folder.txt'));
    written.push(vscode.Uri.joinPath(folder, 'data-folder.txt'));
    await refusedConfig('folder-data.rnn.json', JSON.stringify({ name: 'f', data: 'data-folder.txt', hidden: 4, steps: 2 }), /data-folder\.txt is a folder/);
  });

  it('a run config nested 100,000 levels deep is refused in one message (no stack overflow)', async () => {
    await refusedConfig('deep.rnn.json', `{"hidden": ${'['.repeat(100_000)}${']'.repeat(100_000)}}`, /deep\.rnn\.json.*more than 64 levels deep/);
  });

  it('a run config that is not JSON names the line and column, without quoting the text', async () => {
    await refusedConfig('broken.rnn.json', '{\n  "hidden": 4,\n  "steps": ]\n}', /broken\.rnn\.json is not valid JSON/);
    assert.ok(!api.errors.at(-1)!.includes('"steps"'), api.errors.at(-1));
  });

  it('a run config with a UTF-8 byte order mark trains', async () => {
    const cfg = vscode.Uri.joinPath(folder, 'bom.rnn.json');
    await vscode.workspace.fs.writeFile(cfg, new TextEncoder().encode('\ufeff' + JSON.stringify({ name: 'bom', data: 'tiny.txt', cell: 'rnn', hidden: 4, seqLength: 8, batch: 1, steps: 2 })));
    written.push(cfg);
    const runId = await vscode.commands.executeCommand<string>('rnnLab.train', cfg);
    assert.ok(runId, api.errors.at(-1));
    assert.strictEqual((await api.whenDone(runId)!).status, 'finished');
  });

  it('a data file, a config and an import source that are FIFOs are refused without blocking (Node host: runNode.mjs makes special/pipe)', async function () {
    const pipe = vscode.Uri.joinPath(folder, 'special', 'pipe');
    const stat = await vscode.workspace.fs.stat(pipe).then((s) => s, () => undefined);
    if (!stat) return this.skip(); // the web host's workspace holds no FIFO
    assert.strictEqual(stat.type & vscode.FileType.File, 0, 'special/pipe is not a FIFO');
    await refusedConfig('fifo-data.rnn.json', JSON.stringify({ name: 'p', data: 'special/pipe', hidden: 4, steps: 2 }), /special\/pipe is not a regular file/);
    // Train on the FIFO itself: refused (a notification), and the command returns.
    assert.strictEqual(await vscode.commands.executeCommand('rnnLab.train', pipe), undefined);
    const id = await vscode.commands.executeCommand<string>('rnnLab.importCheckpoint', { file: pipe, vocab: 'none' });
    assert.strictEqual(id, undefined);
    assert.match(api.errors.at(-1)!, /pipe is not a regular file/);
  });

  it('a config in a subfolder may use ../ to reach a file that stays inside the workspace', async () => {
    const cfg = vscode.Uri.joinPath(folder, 'configs-sec', 'inner.rnn.json');
    await vscode.workspace.fs.createDirectory(vscode.Uri.joinPath(folder, 'configs-sec'));
    written.push(vscode.Uri.joinPath(folder, 'configs-sec'));
    await vscode.workspace.fs.writeFile(cfg, new TextEncoder().encode(JSON.stringify({ name: 'inner', data: '../tiny.txt', cell: 'rnn', hidden: 4, seqLength: 8, batch: 1, steps: 2 })));
    const runId = await vscode.commands.executeCommand<string>('rnnLab.train', cfg);
    assert.ok(runId, api.errors.at(-1));
    const summary = await api.whenDone(runId)!;
    assert.strictEqual(summary.status, 'finished', summary.message);
    const config = JSON.parse(new TextDecoder().decode(await vscode.workspace.fs.readFile(vscode.Uri.joinPath(api.store.runUri(runId), 'config.json'))));
    assert.strictEqual(config.data, 'tiny.txt');
    assert.ok(api.store.runUri(runId).path.startsWith(api.store.root.path + '/'));
  });

  for (const id of ['../../tiny.txt', '..', '.rnn-lab', 'a/b', '%2e%2e%2f']) {
    it(`Sample from Model refuses the run id ${JSON.stringify(id)} before touching the disk`, async () => {
      const errors = api.errors.length;
      const text = await vscode.commands.executeCommand('rnnLab.sample', { runId: id, temperature: 1, length: 10, prime: '' });
      assert.strictEqual(text, undefined);
      assert.strictEqual(api.errors.length, errors + 1);
      assert.match(api.errors.at(-1)!, /run id .*(characters other than|starts with ".")/);
    });
  }
});
