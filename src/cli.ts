#!/usr/bin/env node
// The `warden` command (package.json "bin"). `npm start` runs it without arguments, which is
// `warden serve`. The commands live in src/cli/, one module per group.
import type { Writable } from 'node:stream';
import { run } from './cli/program.js';

/** Resolves once everything written to `out` so far has been handed to the OS. */
const flushed = (out: Writable) => new Promise<void>((resolve) => out.write('', () => resolve()));

const state = { exitCode: 0, keepAlive: false };
// A reader that stops early (`warden audit | head`) closes the pipe: the rest of the output is not
// wanted, which is no failure of the command. Stop quietly with the command's exit code so far,
// rather than die of the write's EPIPE with a stack trace. The server (serve) logs elsewhere.
for (const out of [process.stdout, process.stderr]) {
  out.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE' || state.keepAlive) throw e;
    process.exit(state.exitCode);
  });
}
const code = await run(process.argv.slice(2), state);
// The server keeps running until a signal; every other command is done: exit now rather than wait
// for idle handles (pools, workers) to wind down — once the output is out. A pipe whose reader is
// slower than us (`warden audit | jq …`) holds what it could not take yet in the stream's buffer,
// and process.exit would drop it.
if (!state.keepAlive || code !== 0) {
  await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
  process.exit(code);
}
