import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import { CliError, type Command } from '../command.js';
import { BENCH_SOURCES, BENCH_SUITE } from '../files.js';

export const bench: Command = {
  name: 'bench',
  summary: 'run the benchmark suite (dist/bench/main.js)',
  help: `Usage: shmkit bench [ARGS...]

Runs the benchmark suite, node dist/bench/main.js, with ARGS; its output and
exit code are the command's. The suite's own help: shmkit bench -- --help.
`,
  // The suite (and the transports it compares) comes with shmkit's source
  // repository, not with the installed package.
  offered: () => existsSync(BENCH_SUITE) || existsSync(BENCH_SOURCES),
  async run(argv) {
    if (!existsSync(BENCH_SUITE)) {
      throw existsSync(BENCH_SOURCES)
        ? new CliError('dist/bench/main.js', 'ENOENT', 'the benchmark suite is not built (npm run build)')
        : new CliError(
            undefined,
            'ENOENT',
            "the benchmark suite is not part of the installed package; run it from shmkit's source repository (npm run bench)",
          );
    }
    // `shmkit bench -- --help`: the `--` only keeps shmkit from reading what follows.
    const args = argv[0] === '--' ? argv.slice(1) : argv;
    // node:child_process (with net and dgram) on first use, not for every command.
    const { spawn } = process.getBuiltinModule('node:child_process');
    const child = spawn(process.execPath, [BENCH_SUITE, ...args], { stdio: 'inherit' });
    const forward = (signal: NodeJS.Signals) => child.kill(signal);
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
    try {
      const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
      // A child killed by a signal: the shell's convention, 128 + its number.
      return code ?? 128 + (signal ? constants.signals[signal] : 0);
    } finally {
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
    }
  },
};
