// Locates the project root, whether running from TypeScript sources or from the compiled dist/.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

/** The directory holding package.json, found by walking up from this module. */
export function projectRoot(): string {
  if (cached !== undefined) return cached;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('cannot find the project root (no package.json above the gateway)');
    dir = parent;
  }
  cached = dir;
  return dir;
}
