// Reading a password for `users create` and `users set-password`: never from the command line
// (it would sit in the shell history and in `ps`). From standard input with --password-stdin
// (scripts: `printf %s "$PW" | warden users set-password alice --password-stdin`), else typed at a
// terminal prompt that does not echo it.
import { CliError } from './output.js';

export async function readPassword(opts: { passwordStdin?: boolean }): Promise<string> {
  if (opts.passwordStdin) return fromStdin();
  if (!process.stdin.isTTY) throw new CliError('standard input is not a terminal: give the password on it with --password-stdin', 2);
  const first = await prompt('Password: ');
  const again = await prompt('Password (again): ');
  if (first !== again) throw new CliError('the two passwords differ');
  return first;
}

/** All of standard input, less one final line break. */
async function fromStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

/** One line typed at the terminal, not echoed. Ctrl-C aborts. */
function prompt(question: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const stdin = process.stdin;
    process.stderr.write(question);
    stdin.setRawMode(true);
    stdin.resume();
    let typed = '';
    const done = (err?: Error) => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      if (err) reject(err);
      else resolve(typed);
    };
    const onData = (data: Buffer) => {
      for (const ch of data.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003') return done(new CliError('cancelled'));
        if (ch === '\u007f' || ch === '\b') typed = [...typed].slice(0, -1).join('');
        else typed += ch;
      }
    };
    stdin.on('data', onData);
  });
}
