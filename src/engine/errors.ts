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
  | 'bad-file'
  | 'disk-full'
  | 'diverged';

/** The longest one-line message a user is shown; longer ones lose their middle to an ellipsis. */
export const MAX_LINE = 300;

export class EngineError extends Error {
  readonly hint: string;

  constructor(
    readonly code: ErrorCode,
    message: string,
    hint: string,
  ) {
    // Messages are built from file contents and arguments: whatever those hold, what is shown
    // stays one line.
    super(clip(message, MAX_LINE));
    this.hint = clip(hint, 200);
    this.name = 'EngineError';
  }

  /** One line, at most MAX_LINE characters: what, where, what to do. */
  get line(): string {
    return fitLine(this.message, `. ${this.hint}`);
  }
}

/** Line breaks and runs of whitespace folded into single spaces. */
export function oneLine(text: string): string {
  return String(text).replace(/\s*[\r\n\u2028\u2029]+\s*/g, ' ');
}

/**
 * `text` cut to `max` characters with an ellipsis in the middle, so a long path or argument keeps
 * both its start and its end. Code points are not split.
 */
export function clip(text: string, max = 80): string {
  const s = oneLine(text);
  if (s.length <= max) return s;
  const chars = Array.from(s);
  if (chars.length <= max) return s;
  const head = Math.ceil((max - 1) * 0.6);
  const tail = max - 1 - head;
  return `${chars.slice(0, head).join('')}\u2026${tail > 0 ? chars.slice(chars.length - tail).join('') : ''}`;
}

/** A user-given value quoted for a message: JSON-escaped (control characters visible) and clipped. */
export function quote(value: string, max = 60): string {
  const json = JSON.stringify(value.length > 4 * max ? value.slice(0, 4 * max) : value);
  return json.length <= max + 2 && value.length <= 4 * max ? json : `${clip(json.slice(0, -1), max)}"`;
}

/** `message` + `tail` in at most MAX_LINE characters, the message's middle cut first. */
export function fitLine(message: string, tail: string): string {
  const m = oneLine(message);
  const t = oneLine(tail);
  if (m.length + t.length <= MAX_LINE) return m + t;
  const room = Math.max(60, MAX_LINE - t.length);
  return clip(m, room) + clip(t, Math.max(40, MAX_LINE - room));
}
