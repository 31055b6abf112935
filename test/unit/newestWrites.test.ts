import * as assert from 'node:assert/strict';
import { newestWrites } from '../../src/extension/newestWrites';

describe('newest-only writes (checkpoint generations in the extension)', () => {
  it('a slow write holds back at most one: newer items replace the waiting one, the newest is written last, in order', async () => {
    const written: number[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    const gates: (() => void)[] = [];
    const w = newestWrites<number>(
      async (n) => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        await new Promise<void>((r) => gates.push(r));
        written.push(n);
        inFlight--;
      },
      () => assert.fail('no write fails here'),
    );
    w.push(1);
    await new Promise((r) => setImmediate(r));
    assert.equal(gates.length, 1, 'the first write started');
    for (let n = 2; n <= 50; n++) w.push(n); // the disk is slow: 49 generations arrive meanwhile
    let idle = false;
    void w.idle().then(() => (idle = true));
    gates.shift()!();
    await new Promise((r) => setImmediate(r));
    assert.equal(gates.length, 1, 'one write waited, and it started next');
    assert.equal(idle, false, 'idle waits for the newest');
    gates.shift()!();
    await w.idle();
    assert.deepEqual(written, [1, 50]);
    assert.equal(maxInFlight, 1);
    // Later items after an idle spell are written as they come.
    w.push(51);
    await new Promise((r) => setImmediate(r));
    gates.shift()!();
    await w.idle();
    assert.deepEqual(written, [1, 50, 51]);
  });

  it('a failed write is reported and the next one still runs', async () => {
    const failures: number[] = [];
    const written: number[] = [];
    const w = newestWrites<number>(
      async (n) => {
        if (n === 1) throw new Error('disk full');
        written.push(n);
      },
      (_e, n) => failures.push(n),
    );
    w.push(1);
    await w.idle();
    w.push(2);
    await w.idle();
    assert.deepEqual(failures, [1]);
    assert.deepEqual(written, [2]);
  });
});
