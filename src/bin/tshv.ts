#!/usr/bin/env node
// Entry point: wiring by hand, no logic (shared/STYLE.md layer 9).
import { main } from '../cli/main.js';

process.exitCode = await main(process.argv.slice(2));
