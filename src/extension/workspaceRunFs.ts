import * as vscode from 'vscode';
import type { RunFs } from '../runFolder/runFolder';

/** vscode.workspace.fs under `root` as a RunFs (no append: workspace.fs has none). */
export function workspaceRunFs(root: vscode.Uri): RunFs {
  const at = (path: string): vscode.Uri => (path ? vscode.Uri.joinPath(root, ...path.split('/')) : root);
  return {
    readFile: async (path) => vscode.workspace.fs.readFile(at(path)),
    writeFile: async (path, data) => vscode.workspace.fs.writeFile(at(path), data),
    rename: async (from, to) => vscode.workspace.fs.rename(at(from), at(to), { overwrite: true }),
    createDirectory: async (path) => vscode.workspace.fs.createDirectory(at(path)),
    readDirectory: async (path) => (await vscode.workspace.fs.readDirectory(at(path))).map(([name, type]) => [name, (type & vscode.FileType.Directory) !== 0]),
    exists: (path) => exists(at(path)),
    delete: async (path) => {
      try {
        await vscode.workspace.fs.delete(at(path), { recursive: true, useTrash: false });
      } catch (e) {
        if (await exists(at(path))) throw e;
      }
    },
  };
}

export async function exists(uri: vscode.Uri): Promise<boolean> {
  try {
    await vscode.workspace.fs.stat(uri);
    return true;
  } catch {
    return false;
  }
}
