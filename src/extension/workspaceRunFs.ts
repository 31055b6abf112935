import * as vscode from 'vscode';
import { EngineError } from '../engine/errors';
import type { RunFs } from '../runFolder/runFolder';

/**
 * The largest run file read whole: checkpoints of the biggest models the engine trains stay below
 * it, and a file past it (a sparse or runaway file) would only exhaust the host's memory.
 */
const MAX_RUN_FILE_BYTES = 2 ** 31 - 1;

/** vscode.workspace.fs under `root` as a RunFs (no append: workspace.fs has none); files over `maxBytes` are refused. */
export function workspaceRunFs(root: vscode.Uri, maxBytes = MAX_RUN_FILE_BYTES): RunFs {
  const at = (path: string): vscode.Uri => (path ? vscode.Uri.joinPath(root, ...path.split('/')) : root);
  return {
    readFile: async (path) => {
      // A FIFO, device or socket (FileType.Unknown) would block the read forever: refused first.
      const stat = await vscode.workspace.fs.stat(at(path));
      if (!(stat.type & vscode.FileType.File)) throw new EngineError('bad-config', `${path} is not a regular file`, 'Remove it from the run folder.');
      if (stat.size > maxBytes) throw new EngineError('bad-config', `${path} is ${stat.size.toLocaleString('en-US')} bytes, more than a run file can be`, 'Remove it from the run folder.');
      return vscode.workspace.fs.readFile(at(path));
    },
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
