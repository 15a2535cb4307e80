// Warden's version, as package.json says: `warden --version`, the start line and /openapi.json's
// info.version report it, so none disagrees. Read from package.json two folders up, from src/config/ and
// dist/config/ alike (the package ships it).
import { readFileSync } from 'node:fs';

export const WARDEN_VERSION: string = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
