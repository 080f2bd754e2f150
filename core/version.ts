import { readFileSync } from 'node:fs';

/** berth's version, read from package.json (two levels up from dist/core, one from core/). */
const pkgUrl = new URL(import.meta.url.includes('/dist/') ? '../../package.json' : '../package.json', import.meta.url);
export const version: string = (JSON.parse(readFileSync(pkgUrl, 'utf8')) as { version: string }).version;
export const revision = '';
