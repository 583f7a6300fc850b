// The layers of shmkit (README, "Layout"), as rules on imports between
// the folders of src/. `npm run check:layers` checks them, and so does
// test/layers.test.ts in `npm test`. Each folder may import its own files and
// those of the layers listed for it, nothing else of ours:
//
//   core/     nothing (the addon's binding, errors, validation, platform)
//   sysv/     core                 C-faithful calls: the only TypeScript that
//   posix/    core, sysv           calls the addon's shims (core/native.ts)
//   shm/ sem/ msg/                 the high level; siblings do not import each
//             core, sysv, posix    other, except that struct/ reads memory
//   struct/   core, sysv, posix, shm   a SharedMemory gives it (struct/memory.ts)
//   channel/  the high level, sysv, core (e.g. presence.ts asks shmctl directly)
//   bridge/   channel/ and core/ (a channel forwarded over NATS)
//   cli/      src/index.ts only (the public API), and its own files
//   index.ts  anything but cli/
//
// Type-only imports count too (tsPreCompilationDeps), and no cycles anywhere.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'core-imports-nothing-of-ours',
      severity: 'error',
      from: { path: '^src/core/' },
      to: { path: '^src/', pathNot: '^src/core/' },
    },
    {
      name: 'sysv-imports-only-core',
      severity: 'error',
      from: { path: '^src/sysv/' },
      to: { path: '^src/', pathNot: '^src/(core|sysv)/' },
    },
    {
      name: 'posix-imports-only-sysv-core',
      severity: 'error',
      from: { path: '^src/posix/' },
      to: { path: '^src/', pathNot: '^src/(core|sysv|posix)/' },
    },
    {
      name: 'high-level-imports-only-sysv-core',
      comment: 'shm/, sem/ and msg/ build on sysv/ (and posix/) and core/ only, not on each other.',
      severity: 'error',
      from: { path: '^src/(shm|sem|msg)/' },
      to: { path: '^src/', pathNot: ['^src/(core|sysv|posix)/', '^src/$1/'] },
    },
    {
      name: 'struct-imports-only-shm-sysv-core',
      comment: 'struct/ views the memory of a SharedMemory (struct/memory.ts), so it may import shm/; shm/ never imports struct/.',
      severity: 'error',
      from: { path: '^src/struct/' },
      to: { path: '^src/', pathNot: '^src/(core|sysv|posix|shm|struct)/' },
    },
    {
      name: 'channel-imports-only-high-level-sysv-core',
      severity: 'error',
      from: { path: '^src/channel/' },
      to: { path: '^src/', pathNot: '^src/(core|sysv|posix|shm|sem|msg|struct|channel)/' },
    },
    {
      name: 'bridge-imports-only-channel-core',
      comment: 'bridge/ forwards channels over NATS: it builds on channel/ (and core/ for errors and validation), nothing else of ours.',
      severity: 'error',
      from: { path: '^src/bridge/' },
      to: { path: '^src/', pathNot: '^src/(core|channel|bridge)/' },
    },
    {
      name: 'cli-imports-only-the-public-api',
      comment: 'Anything the CLI can do, a user program can do: it imports src/index.ts and its own files only.',
      severity: 'error',
      from: { path: '^src/cli/' },
      to: { path: '^src/', pathNot: ['^src/cli/', '^src/index\\.ts$'] },
    },
    {
      name: 'only-sysv-calls-the-addon',
      comment: 'core/native.ts (the addon) is used by core/ itself, sysv/ and posix/ only.',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/(core|sysv|posix)/' },
      to: { path: '^src/core/native\\.ts$' },
    },
    {
      name: 'index-does-not-import-cli',
      severity: 'error',
      from: { path: '^src/index\\.ts$' },
      to: { path: '^src/cli/' },
    },
    {
      name: 'src-root-holds-only-index',
      comment: 'Every other file belongs to a layer folder.',
      severity: 'error',
      from: { path: '^src/[^/]+$', pathNot: '^src/index\\.ts$' },
      to: {},
    },
    {
      name: 'no-circular',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
  ],
  options: {
    includeOnly: '^src/',
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    // src/ holds only .ts files, imported by their .js names (NodeNext): a
    // resolution tries these endings on each name it cannot find, and dependency-cruiser's
    // default list (some twenty) cost 0.05-0.09 s of CPU per run, for the same graph.
    enhancedResolveOptions: { extensions: ['.ts'] },
  },
};
