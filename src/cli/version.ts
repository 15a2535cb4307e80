// Warden's version, as package.json says: `warden --version` and the start line report it. Read
// from the file beside src/ and dist/ (the package ships it), so the two never disagree.
import { readFileSync } from 'node:fs';

export const WARDEN_VERSION: string = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
