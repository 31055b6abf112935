/**
 * Run ids arrive from webviews and command arguments. Both are untrusted: a webview page can be
 * scripted, and a command can be called by any extension or a command link with any arguments.
 * Pure (no vscode import), so the unit tests' bad-input corpus runs it. The panels' messages are
 * checked in panelMessages.ts, which uses this for their run ids.
 */

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
