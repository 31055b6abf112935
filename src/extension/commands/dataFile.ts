import * as vscode from 'vscode';
import { checkFileSize, decodeText } from '../../engine/data';
import { errorText, type Feedback } from '../feedback';
import { readRegularFile } from '../workspaceFiles';

/**
 * Every training path reads its data through here: real files only (a link could point anywhere
 * on the machine, so links and folders are refused), the size cap checked on the stat before
 * reading so an oversized file never enters memory, then the text checks. Throws what is wrong.
 */
export async function loadDataFile(uri: vscode.Uri, name: string, maxBytes: number): Promise<string> {
  const stat = await vscode.workspace.fs.stat(uri);
  if (stat.type & vscode.FileType.SymbolicLink) throw new Error(`${name} is a symbolic link; RNN Lab reads only real files inside the workspace. Copy the file into the workspace.`);
  return decodeText(await readRegularFile(uri, name, maxBytes, (size) => checkFileSize(size, name, maxBytes)), name, maxBytes);
}

/** loadDataFile, with what is wrong shown to the user (undefined then). */
export async function readDataFile(feedback: Feedback, uri: vscode.Uri, maxBytes: number, name: string): Promise<string | undefined> {
  try {
    return await loadDataFile(uri, name, maxBytes);
  } catch (e) {
    feedback.errorWithLog(`RNN Lab: cannot read ${name}: ${errorText(e)}`);
    return undefined;
  }
}
