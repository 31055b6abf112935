/**
 * Errors a user can cause. Each carries a machine-readable code, a message that says what is wrong
 * and where, and a hint that says what to do: the CLI prints them as one line, the extension as
 * one notification.
 */
export type ErrorCode =
  | 'empty-file'
  | 'binary-file'
  | 'invalid-utf8'
  | 'too-short'
  | 'too-large'
  | 'bad-csv'
  | 'bad-config'
  | 'bad-oracle'
  | 'bad-checkpoint'
  | 'disk-full'
  | 'diverged';

export class EngineError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly hint: string,
  ) {
    super(message);
    this.name = 'EngineError';
  }

  /** One line: what, where, what to do. */
  get line(): string {
    return `${this.message}. ${this.hint}`;
  }
}
