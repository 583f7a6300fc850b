#!/usr/bin/env node
// The shmkit command; its code is in src/cli/ (built to dist/src/cli/).
import { main } from '../dist/src/cli/main.js';

process.exitCode = await main(process.argv.slice(2));
