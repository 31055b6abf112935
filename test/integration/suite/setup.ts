import 'mocha/mocha';

// Colours off: the output goes through the workbench log to the runner's stdout as plain text.
mocha.setup({ ui: 'bdd', reporter: 'spec', color: false, timeout: 60_000 });
