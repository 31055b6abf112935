/**
 * Validators for what a webview or a command argument hands the extension. Both are untrusted:
 * a webview page can be scripted, and a command can be called by any extension or a command link
 * with any arguments. Pure (no vscode import), so the unit tests' bad-input corpus runs them.
 */

/** Messages the diagnostics webview posts to the extension. */
export type FromDiagnosticsWebview = { type: 'ready' } | { type: 'received'; metrics: number; diagnostics: number; lastStep: number };

/** What is wrong with a message from the diagnostics webview, or undefined if it is well-formed. */
export function diagnosticsWebviewMessageProblem(msg: unknown): string | undefined {
  if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) return `message is ${msg === null ? 'null' : Array.isArray(msg) ? 'an array' : `a ${typeof msg}`}, not an object`;
  const m = msg as Record<string, unknown>;
  if (!Object.hasOwn(m, 'type')) return 'message has no "type"';
  if (m.type === 'ready') return undefined;
  if (m.type !== 'received') return `unknown message type ${typeof m.type === 'string' ? JSON.stringify(m.type.slice(0, 40)) : `of kind ${typeof m.type}`}`;
  for (const field of ['metrics', 'diagnostics', 'lastStep'] as const) {
    const v = Object.hasOwn(m, field) ? m[field] : undefined;
    if (v === undefined) return `"received" message has no "${field}"`;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) return `"received" message field "${field}" must be a whole number >= 0`;
  }
  return undefined;
}

/** Messages from a webview are untrusted: check every field before use. */
export function isFromDiagnosticsWebview(msg: unknown): msg is FromDiagnosticsWebview {
  return diagnosticsWebviewMessageProblem(msg) === undefined;
}

/**
 * A run id names one folder directly inside the run store: `<YYYYMMDD-HHMMSS>-<name>` with the
 * name reduced to [\w.-]. Anything else (a path, '..', a separator, a NUL, a huge string) is
 * refused before it is joined to the store's location.
 */
export function runIdProblem(id: unknown): string | undefined {
  if (typeof id !== 'string') return `run id must be a string, got ${id === null ? 'null' : typeof id}`;
  if (id.length === 0) return 'run id is empty';
  if (id.length > 200) return `run id is ${id.length} characters long (at most 200)`;
  if (!/^[\w.-]+$/.test(id)) return `run id ${JSON.stringify(id.slice(0, 60))} has characters other than letters, digits, "_", "." and "-"`;
  if (id.startsWith('.')) return `run id ${JSON.stringify(id.slice(0, 60))} starts with "."`;
  return undefined;
}
