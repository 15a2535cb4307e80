// The `warden` command line: one commander program, one module per command group. Exit codes: 0
// done, 1 failed (the message says why), 2 wrong usage (unknown command or option, missing
// argument; the usage is printed). `--help` works on every command and touches nothing.
// Nothing runs before commander has parsed the line: `--help` and a typo touch no file, no
// database and no network. The HTTP server's modules are loaded only by `serve`.
import { Command, CommanderError } from 'commander';
import { WardenError } from '@warden/toolkit';
import { registerAudit } from './audit.js';
import { registerConfig } from './config-check.js';
import { registerImport } from './import/command.js';
import { registerKeygen } from './keygen.js';
import { registerMigrate } from './migrate.js';
import { CliError } from './output.js';
import { registerServe } from './serve.js';
import { registerSessions } from './sessions.js';
import { registerUsers } from './users.js';
import { WARDEN_VERSION } from '../config/version.js';

/** What an action tells the entry point beyond success: an exit code other than 0, or that it keeps running (serve). */
export interface RunState {
  exitCode: number;
  keepAlive: boolean;
}

export function buildProgram(state: RunState): Command {
  const program = new Command('warden')
    .description('Warden: JWT authentication server. With no command, runs the server (warden serve).')
    .version(WARDEN_VERSION, '-V, --version')
    .exitOverride()
    .showHelpAfterError()
    .configureOutput({ writeOut: (s) => process.stdout.write(s), writeErr: (s) => process.stderr.write(s) });
  program.addHelpText('after', `
Configuration comes from the environment and ./.env (see the README). Commands that use the
database work on DATABASE_URL without starting the HTTP server; changes they make are broadcast
to running instances over REDIS_URL, as the API's are.

Exit codes: 0 done, 1 failed, 2 wrong usage.`);
  registerServe(program, state);
  registerMigrate(program);
  registerConfig(program, state);
  registerUsers(program);
  registerSessions(program);
  registerImport(program, state);
  registerKeygen(program);
  registerAudit(program);
  return program;
}

/** Runs the command line `argv` (without node and the script). Resolves with the exit code. */
export async function run(argv: readonly string[], state: RunState = { exitCode: 0, keepAlive: false }): Promise<number> {
  const program = buildProgram(state);
  const json = argv.includes('--json');
  // The command whose action runs: a wrong usage it finds itself (exit 2) prints its usage too.
  let acting: Command | undefined;
  program.hook('preAction', (_program, command) => {
    acting = command;
  });
  try {
    await program.parseAsync(argv.length === 0 ? ['serve'] : [...argv], { from: 'user' });
    return state.exitCode;
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help, --version and `help X` exit 0; anything else commander stops on is wrong usage, and
      // it has printed the problem and the usage.
      return e.exitCode === 0 ? 0 : 2;
    }
    const { message, code, exitCode, fields } = describe(e);
    state.exitCode = exitCode; // the code to exit with should the reader of the message be gone (cli.ts)
    if (json) process.stdout.write(`${JSON.stringify({ error: { code, message: fields ? (e as WardenError).message : message, ...(fields ? { fields } : {}) } }, null, 2)}\n`);
    else process.stderr.write(`warden: ${message}\n${exitCode === 2 && acting ? `\n${acting.helpInformation()}` : ''}`);
    return exitCode;
  }
}

function describe(e: unknown): { message: string; code: string; exitCode: number; fields?: unknown[] } {
  if (e instanceof CliError) return { message: e.message, code: e.code, exitCode: e.exitCode };
  if (e instanceof WardenError) {
    // A user checked whole (users create, users update): every field that failed, one line each.
    const fields = Array.isArray(e.details?.fields) ? e.details.fields as { message: string }[] : undefined;
    if (fields && fields.length > 1) return { message: fields.map((f) => f.message).join('\nwarden: '), code: e.code, exitCode: 1, fields };
    return { message: e.message, code: e.code, exitCode: 1 };
  }
  return { message: e instanceof Error ? e.message : String(e), code: 'ERR_INTERNAL', exitCode: 1 };
}
