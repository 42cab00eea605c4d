/** Paths tests need, valid whatever outDir the tests were compiled to (tests run from the repo root). */
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export const repoRoot = process.cwd();
export const testdataDir = path.join(repoRoot, 'testdata');
export const sharedDir = path.resolve(repoRoot, '..', 'shared');
/** The compiled CLI entry point next to the compiled tests. */
export const cliPath = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
