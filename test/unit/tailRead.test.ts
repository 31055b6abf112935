import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFile, mkdir, mkdtemp, open, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nodeRunFs } from '../../src/runFolder/nodeRunFs';
import { BACKOFF, completeLines, nextWholeRead, readRunJson } from '../../src/runFolder/tailRead';

// Reading a run folder while another process writes it (the extension's WatchedRuns), on real
// files: records appended line by line, sometimes caught mid-line; JSON caught mid-write.
describe('reading a run folder another process writes (tailRead)', () => {
  let root: string;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'rnn-lab-tail-'));
    await mkdir(join(root, 'run'));
  });
  afterEach(() => rm(root, { recursive: true, force: true }));

  const enc = new TextEncoder();

  it('takes only complete lines past the cursor, from a whole file or from a range of it', () => {
    const bytes = enc.encode('{"a":1}\n{"b":2}\n{"c":');
    assert.deepEqual(completeLines(bytes, 0, 0), { text: '{"a":1}\n{"b":2}\n', end: 16 });
    assert.deepEqual(completeLines(bytes, 0, 8), { text: '{"b":2}\n', end: 16 });
    assert.equal(completeLines(bytes, 0, 16), undefined, 'the torn last line waits for its newline');
    // The same bytes read as a range starting at file offset 100.
    assert.deepEqual(completeLines(bytes, 100, 108), { text: '{"b":2}\n', end: 116 });
    assert.equal(completeLines(enc.encode('no newline yet'), 0, 0), undefined);
    // A multi-byte character in a line is decoded whole (the cut is only ever after a newline).
    assert.deepEqual(completeLines(enc.encode('{"é":"∑"}\n'), 0, 0), { text: '{"é":"∑"}\n', end: 13 });
  });

  it('a writer appending lines (some caught mid-line) is read with ranged reads: every record once, in order', async () => {
    const path = join(root, 'run', 'metrics.jsonl');
    await writeFile(path, '');
    const seen: number[] = [];
    let cursor = 0;
    const poll = async () => {
      const size = (await stat(path)).size;
      if (size <= cursor) return;
      const handle = await open(path, 'r');
      const bytes = new Uint8Array(size - cursor);
      await handle.read(bytes, 0, bytes.length, cursor);
      await handle.close();
      const lines = completeLines(bytes, cursor, cursor);
      if (!lines) return;
      cursor = lines.end;
      for (const l of lines.text.split('\n')) if (l) seen.push((JSON.parse(l) as { step: number }).step);
    };
    for (let step = 1; step <= 50; step++) {
      const line = JSON.stringify({ type: 'metrics', step, loss: 1 / step }) + '\n';
      // Every third line lands in two writes, with a poll between them.
      if (step % 3 === 0) {
        await appendFile(path, line.slice(0, 7));
        await poll();
        await appendFile(path, line.slice(7));
      } else await appendFile(path, line);
      await poll();
    }
    assert.deepEqual(seen, Array.from({ length: 50 }, (_, i) => i + 1));
    assert.equal(cursor, (await stat(path)).size);
  });

  it('reads config.json when whole; half-written, missing, too deep or a FIFO are told apart', async () => {
    const fs = nodeRunFs(root);
    const config = JSON.stringify({ name: 'outside', cell: 'gru', layers: 1, hidden: 8 });
    await writeFile(join(root, 'run', 'config.json'), config);
    assert.deepEqual(await readRunJson(fs, 'run', 'config.json'), { value: { name: 'outside', cell: 'gru', layers: 1, hidden: 8 } });
    // Another process mid-write: the first half of the file. Not an error: read again later.
    await writeFile(join(root, 'run', 'config.json'), config.slice(0, config.length >> 1));
    assert.deepEqual(await readRunJson(fs, 'run', 'config.json'), { unreadable: true });
    await writeFile(join(root, 'run', 'config.json'), '');
    assert.deepEqual(await readRunJson(fs, 'run', 'config.json'), { unreadable: true });
    await writeFile(join(root, 'run', 'summary.json'), '['.repeat(100) + ']'.repeat(100));
    assert.deepEqual(await readRunJson(fs, 'run', 'summary.json'), { unreadable: true }, 'nesting past MAX_JSON_DEPTH is refused before JSON.parse');
    assert.deepEqual(await readRunJson(fs, 'run', 'import.json'), { missing: true });
    // A FIFO would block a read forever: refused by the RunFs, with its reason.
    execFileSync('mkfifo', [join(root, 'run', 'summary.json.fifo')]);
    const fifo = await readRunJson(fs, 'run', 'summary.json.fifo');
    assert.ok('refused' in fifo, JSON.stringify(fifo));
    assert.match(fifo.refused, /summary\.json\.fifo.*not a regular file/);
  });

  it('a file read whole waits BACKOFF times its read before the next whole read', () => {
    assert.equal(BACKOFF, 10);
    assert.equal(nextWholeRead(1000, 40), 1440);
    assert.equal(nextWholeRead(1000, 0), 1000, 'a read too quick to measure may be repeated at the next poll');
  });
});
