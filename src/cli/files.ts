// Files of this installation that the command reads or starts. Each is named
// from the package's root: this module runs as dist/src/cli/files.js or inside
// the bundle in dist/src/bundle/, and both are two folders below dist/, so one
// relative path reaches the root from either.
import { fileURLToPath } from 'node:url';

const root = new URL('../../../', import.meta.url);

/** The package's package.json. */
export const PACKAGE_JSON = fileURLToPath(new URL('package.json', root));

/**
 * docs/cli.md of this installation. The package ships docs/, so help names
 * that file by its full path, which works wherever the user stands.
 */
export const CLI_DOCS = fileURLToPath(new URL('docs/cli.md', root));

/** The demo's reader, the program `shmkit demo` starts as its second process. */
export const DEMO_READER = fileURLToPath(new URL('dist/src/bundle/reader.js', root));

/** The benchmark suite as built; the published package does not have it. */
export const BENCH_SUITE = fileURLToPath(new URL('dist/bench/main.js', root));

/** bench/ of a source checkout, from which `npm run build` makes {@link BENCH_SUITE}. */
export const BENCH_SOURCES = fileURLToPath(new URL('bench/', root));
