// Preload (node --require) for the long-run test: samples the heap every 100 ms (the training
// loop yields to the event loop every ~30 ms, so the timer runs) and, at exit, writes
// {maxRssKiB, peakHeapUsed, samples} as JSON to the file named by RNN_LAB_MEMORY_FILE.
'use strict';
const { writeFileSync } = require('node:fs');
const file = process.env.RNN_LAB_MEMORY_FILE;
if (file) {
  let peakHeapUsed = 0;
  let samples = 0;
  const sample = () => {
    peakHeapUsed = Math.max(peakHeapUsed, process.memoryUsage().heapUsed);
    samples++;
  };
  setInterval(sample, 100).unref();
  process.on('exit', () => {
    sample();
    writeFileSync(file, JSON.stringify({ maxRssKiB: process.resourceUsage().maxRSS, peakHeapUsed, samples }));
  });
}
