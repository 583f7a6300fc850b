#!/usr/bin/env node
// The shmkit command; its code is in src/cli/ (built to dist/src/cli/ and
// bundled with the library into dist/src/bundle/).
import { main } from '../dist/src/bundle/main.js';

process.exitCode = await main(process.argv.slice(2));
