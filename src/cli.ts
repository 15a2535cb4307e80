#!/usr/bin/env node
// The `warden` command (package.json "bin"). `npm start` runs it without arguments, which is
// `warden serve`. The commands live in src/cli/, one module per group.
import { run } from './cli/program.js';

const state = { exitCode: 0, keepAlive: false };
const code = await run(process.argv.slice(2), state);
// The server keeps running until a signal; every other command is done: exit now rather than wait
// for idle handles (pools, workers) to wind down. Writes to pipes and files are synchronous here.
if (!state.keepAlive || code !== 0) process.exit(code);
