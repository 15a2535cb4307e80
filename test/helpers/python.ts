// Clients nobody here wrote, from Debian's Python packages (flask-jwt-extended, PyJWT, python-jose,
// pyotp, prometheus-client): the one interpreter they are installed for, and why a test skips
// where one is missing.
import { commandMissing } from './foreign.js';

/** Debian's interpreter, never a pyenv or virtualenv one on PATH: `apt-get install python3-…` installs for it. */
export const PYTHON = '/usr/bin/python3';

/**
 * Undefined when PYTHON runs `imports`, else the skip message: what is missing, the Debian
 * packages that bring it, and what goes unchecked.
 */
export function pythonMissing(imports: string, packages: string, unchecked: string): string | undefined {
  return commandMissing(PYTHON, ['-c', imports], imports.replace(/^import /, ''), packages, unchecked, 'importable');
}
