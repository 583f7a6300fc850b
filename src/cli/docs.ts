// Where the command's documentation is on this machine. The package ships
// docs/, so an installed shmkit has docs/cli.md beside dist/: help names that
// file by its full path, which works wherever the user stands.
import { fileURLToPath } from 'node:url';

/** docs/cli.md of this installation (this module is dist/src/cli/docs.js). */
export const CLI_DOCS = fileURLToPath(new URL('../../../docs/cli.md', import.meta.url));
