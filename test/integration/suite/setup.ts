import 'mocha/mocha';

// Colours off: the output goes through the workbench log to the runner's stdout as plain text.
mocha.setup({ ui: 'bdd', reporter: 'spec', color: false, timeout: 60_000 });

// RNN_LAB_TEST_GREP runs only the matching tests, for iterating on one: in the Node host from the
// environment (code-server passes it on); the web host has none, so run.mjs sets it on globalThis
// at the top of a copy of this bundle.
const grep =
  (globalThis as { RNN_LAB_TEST_GREP?: string }).RNN_LAB_TEST_GREP ??
  (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.RNN_LAB_TEST_GREP;
if (grep) mocha.grep(new RegExp(grep));

/**
 * mocha.run of mocha's browser build reads `location.search` (for ?grep=), which the Node
 * extension host lacks; there the plain Mocha runner underneath it runs the suite.
 */
export function runMocha(done: (failures: number) => void): void {
  const hasLocation = typeof (globalThis as { location?: unknown }).location === 'object';
  if (hasLocation) mocha.run(done);
  else (Object.getPrototypeOf(mocha) as { run: (this: Mocha, fn: (failures: number) => void) => void }).run.call(mocha, done);
}
