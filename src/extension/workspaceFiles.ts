/**
 * The extension's reads of files a user picks or names (data file, run config, import source and
 * vocabulary) through vscode.workspace.fs: stat first, and anything that is not a regular file (a
 * folder, a FIFO, a device, a socket: FileType Unknown) or is over the cap is refused with one
 * message before it is read, so a pipe never blocks the host and /dev/zero never fills memory.
 */
import * as vscode from 'vscode';
import { EngineError } from '../engine/errors';
import { parseJson } from '../engine/json';

/** Cap for a run config read by the extension (the CLI has the same). */
export const MAX_CONFIG_BYTES = 16 * 1024 * 1024;
/** Cap for a checkpoint the extension imports (the CLI has the same). */
export const MAX_IMPORT_BYTES = 2 * 1024 ** 3 - 1;

function size(n: number): string {
  return n >= 1024 ** 2 ? `${(n / 1024 ** 2).toFixed(1)} MiB` : `${n} bytes`;
}

/**
 * The stat of a regular file of at most maxBytes, or an EngineError naming `name`. `tooLarge`,
 * when given, makes the size refusal (a data file's cap has its own message).
 */
export async function statRegularFile(uri: vscode.Uri, name: string, maxBytes: number, tooLarge?: (size: number) => void): Promise<vscode.FileStat> {
  const stat = await vscode.workspace.fs.stat(uri);
  if (stat.type & vscode.FileType.Directory) throw new EngineError('bad-file', `${name} is a folder, not a file`, 'Give the path of a file.');
  if (!(stat.type & vscode.FileType.File)) throw new EngineError('bad-file', `${name} is not a regular file (a pipe, device or socket)`, 'Give the path of a regular file; pipes and devices are not read.');
  if (tooLarge) tooLarge(stat.size);
  else if (stat.size > maxBytes) throw new EngineError('too-large', `${name} is ${size(stat.size)}, over the ${size(maxBytes)} limit for it`, 'Use a smaller file.');
  return stat;
}

/** The bytes of a regular file of at most maxBytes (see statRegularFile). */
export async function readRegularFile(uri: vscode.Uri, name: string, maxBytes: number, tooLarge?: (size: number) => void): Promise<Uint8Array> {
  await statRegularFile(uri, name, maxBytes, tooLarge);
  const bytes = await vscode.workspace.fs.readFile(uri);
  if (bytes.length > maxBytes) {
    if (tooLarge) tooLarge(bytes.length);
    throw new EngineError('too-large', `${name} grew past the ${size(maxBytes)} limit while it was read`, 'Use a smaller file.');
  }
  return bytes;
}

/** A JSON file (a run config): regular, bounded, a UTF-8 BOM accepted, nesting bounded, one-line errors. */
export async function readJsonFile(uri: vscode.Uri, name: string, hint: string): Promise<unknown> {
  const bytes = await readRegularFile(uri, name, MAX_CONFIG_BYTES);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new EngineError('bad-config', `${name} is not UTF-8 text`, 'Save it as UTF-8 and try again.');
  }
  return parseJson(text, name, 'bad-config', hint);
}
