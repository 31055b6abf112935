// The in-host test entry: VS Code loads this bundle into the extension host and calls run().
// Test files are imported explicitly (no file globbing in a web worker); ./setup comes first so
// that describe() exists when they are evaluated.
import { runMocha } from './setup';
import './extension.test';
import './trainingSession.test';
import './train.test';
import './reveal.test';
import './sampleDelete.test';
import './importCheckpoint.test';
import './selection.test';
import './resume.test';
import './survive.test';
import './panels.test';
import './watch.test';
import './seq2seq.test';
import './sweep.test';
import './translate.test';
import './faults.test';
import './security.test';

export function run(): Promise<void> {
  return new Promise((resolve, reject) => {
    runMocha((failures) => {
      // A rejection is what makes VS Code exit the extension host with code 1.
      if (failures > 0) reject(new Error(`${failures} integration test(s) failed`));
      else resolve();
    });
  });
}
