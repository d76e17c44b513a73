import { readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

export const VERSION: string = pkg.version;
/** R-GEN-4 */
export const SERVER_HEADER = `APISIX/3.16.0 (switchyard/${VERSION})`;
