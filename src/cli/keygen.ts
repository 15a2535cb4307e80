// `warden keygen ALG [--kid KID] [--jwks FILE]`: a private JWK for JWKS_FILE (src/keygen.ts does the work).
import { fchmodSync, fstatSync } from 'node:fs';
import type { Command } from 'commander';
import { keygen } from '../keygen.js';
import { currentKeyRing } from '../keyring.js';
import { cliConfig } from './environment.js';
import { CliError } from './output.js';

/**
 * Printed, the output is a private key: redirected to a file (`> keys.json`), that file is made
 * readable by its owner only, as --jwks makes its own (a shell creates it 0644 under umask 022).
 */
function ownerOnlyIfFile(fd: number): void {
  try {
    if (fstatSync(fd).isFile()) fchmodSync(fd, 0o600);
  } catch {
    // Not ours to change (another user's file, a read-only mount): written as the shell opened it.
  }
}

export function registerKeygen(program: Command): void {
  program
    .command('keygen')
    .description('make a private JWK (any ALGORITHM); with --jwks, append it to that file (created with mode 0600, beginning with the current signing key)')
    .argument('<alg>', 'HS256/384/512, RS256/384/512, PS256/384/512, ES256/384/512 or EdDSA')
    .option('--kid <kid>', 'the key id (default: <alg>-<date>-<random>)')
    .option('--jwks <file>', 'append the key to this JWKS file instead of printing it')
    .action((alg: string, opts: { kid?: string; jwks?: string }) => {
      const args = [alg, ...(opts.kid !== undefined ? ['--kid', opts.kid] : []), ...(opts.jwks !== undefined ? ['--jwks', opts.jwks] : [])];
      try {
        // A new JWKS file starts with today's signing key, read from the configuration as the server reads it.
        const out = keygen(args, () => currentKeyRing(cliConfig()));
        if (opts.jwks === undefined) ownerOnlyIfFile(1);
        process.stdout.write(`${out}\n`);
      } catch (e) {
        // An algorithm that is none of these is a wrong usage (exit 2), as a missing one is.
        throw new CliError((e as Error).message, /^unknown algorithm/.test((e as Error).message) ? 2 : 1);
      }
    });
}
