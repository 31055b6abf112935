/**
 * What the user is told: the "RNN Lab" output channel and error messages. Every error message
 * is also kept in `errors` (tests read them: a notification cannot be read from the UI).
 */
import * as vscode from 'vscode';

export class Feedback implements vscode.Disposable {
  readonly output = vscode.window.createOutputChannel('RNN Lab');
  readonly errors: string[] = [];

  /** A timestamped line in the output channel. */
  log(line: string): void {
    this.output.appendLine(`[${new Date().toISOString()}] ${line}`);
  }

  /** An error notification; with actions, resolves to the one picked. */
  error(message: string, ...actions: string[]): Thenable<string | undefined> {
    this.errors.push(message);
    return vscode.window.showErrorMessage(message, ...actions);
  }

  /** An error notification offering the log. */
  errorWithLog(message: string): void {
    void this.error(message, 'Show Log').then((a) => (a ? this.output.show() : undefined));
  }

  dispose(): void {
    this.output.dispose();
  }
}

/** An error's message and, for engine errors, its hint ("what to do"). */
export function errorText(e: unknown): string {
  if (e instanceof Error) {
    const hint = (e as { hint?: unknown }).hint;
    return typeof hint === 'string' && hint ? `${e.message}. ${hint}` : e.message;
  }
  return String(e);
}
