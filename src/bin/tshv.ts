#!/usr/bin/env node
// Entry point: wiring by hand, no logic (shared/STYLE.md layer 9).
import { main } from '../cli/main.js';

const args = process.argv.slice(2);
if (args[0] === 'daemon') {
  // The daemon and its API server sit above the CLI (layers 7-9): wired here, never imported by cli.
  const { daemonMain } = await import('./daemon-main.js');
  process.exitCode = await daemonMain(args.slice(1));
} else {
  process.exitCode = await main(args);
}
