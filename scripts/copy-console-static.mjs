// tsc compiles only TypeScript: the console's static files (plain ES modules and CSS, served as they
// are) are copied beside the compiled console module, where src/console/assets.ts looks for them.
import { cpSync } from 'node:fs';

cpSync('src/console/static', 'dist/console/static', { recursive: true });
