// Preload (node --require) that writes the process's peak resident set size in KiB to the file
// named by RNN_LAB_MAX_RSS_FILE when it exits, however it exits (process.exit included).
'use strict';
const { writeFileSync } = require('node:fs');
const file = process.env.RNN_LAB_MAX_RSS_FILE;
if (file) process.on('exit', () => writeFileSync(file, String(process.resourceUsage().maxRSS)));
