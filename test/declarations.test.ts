// The published type declarations: built with stripInternal (tsconfig.json,
// which tsconfig.pack.json extends), they hold no @internal member, and a
// program that uses the public API type-checks against them with
// skipLibCheck off, so stripping left no dangling reference behind; the
// classes that only shmkit makes offer that program no constructor. The
// type cases of test/types/*.ts (@ts-expect-error marks what must not
// compile) hold against them too. The build checks those cases against the
// sources with TypeScript 7; this checks what a user gets, with the
// TypeScript 5 most users have, in one program, as most of the compiler's
// time goes to loading the declarations. It checks what tsc checks with
// skipLibCheck off, but only in the files that are shmkit's or the user's:
// the libraries of the user's own project (TypeScript's, @types/node and
// what that imports) were more than half of tsc's time and tell nothing of
// shmkit's declarations.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, after, describe, it } from 'node:test';
import { ROOT } from './helpers/processes.js';
import { ts } from './helpers/typescript.js';

const DECLARATIONS = join(ROOT, 'dist', 'src');

/** A user's program: only the package's public names, typed. */
const PROGRAM = `
import { Attachment, Bridge, Channel, IPC_PRIVATE, MAP_SHARED, Mutex, PROT_READ, PosixSharedMemory, Receiver, ScalarType, SemaphoreSet, Sender, SharedMemory, StructType, Subscriber, atomic, char, int32, mmap, munmap, shmat, shmdt, shmget, struct, type Mapping } from 'shmkit';
const Point = struct({ x: int32, y: int32, label: char(12) });
const shm: SharedMemory = SharedMemory.create({ size: 4096 });
const p = Point.view(shm);
p.x = 3;
p.label = 'ts';
const y: number = atomic(p, 'y').add(1);
const attachment: Attachment = shmat(shmget(IPC_PRIVATE, 4096, 0o600));
shmdt(attachment);
const channel = Channel.create({ capacity: 4096 });
const received: Promise<Uint8Array> = channel.receiver().recv({ timeoutMs: 10 });
const locked: Promise<number> = Mutex.create().withLock(async () => y);
const set = SemaphoreSet.create({ count: 2 });
const ops: Promise<void> = set.op([{ sem_num: 0, sem_op: 1 }], { timeoutMs: 5 });
const anonymous: PosixSharedMemory = PosixSharedMemory.createAnonymous({ size: 4096, seal: true });
const mapping: Mapping = mmap(null, 4096, PROT_READ, MAP_SHARED, anonymous.fd);
const seals: number = anonymous.seals;
munmap(mapping);
Point.view(anonymous).x = seals;
void received, locked, ops;
// What only shmkit makes has no constructor a program can call (each line must be an error).
// @ts-expect-error
new Sender();
// @ts-expect-error
new Receiver();
// @ts-expect-error
new Subscriber();
// @ts-expect-error
new Attachment();
// @ts-expect-error
new Bridge();
// @ts-expect-error
new ScalarType('int32', 4);
// @ts-expect-error
new StructType({ x: int32 }, false, undefined);
`;

/** The type cases, each with what it shows. */
const CASES = [
  ['struct-types.ts', 'view and value types follow the schema'],
  ['channel-codec-types.ts', 'a codec types what a channel sends and receives'],
  ['open-options-types.ts', 'SharedMemory.open takes one of a key, a path or an id'],
  ['public-types.ts', 'error codes, shmctl results and recvBatch options have the types a program annotates with'],
] as const;
const CASES_DIR = join(ROOT, 'test', 'types');

let dir = '';
/** The compiler's complaints, one a line, as tsc --pretty false prints them (file names relative to the project). */
let complaints: string[] | undefined;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'shmkit-declarations-'));
  writeFileSync(join(dir, 'program.ts'), PROGRAM);
  // A case imports the sources by path; here it imports the package, as a user does.
  for (const [file] of CASES) {
    const source = readFileSync(join(CASES_DIR, file), 'utf8');
    assert.match(source, /from '\.\.\/\.\.\/src\/index\.js'/, `${file} imports ../../src/index.js`);
    writeFileSync(join(dir, file), source.replaceAll("from '../../src/index.js'", "from 'shmkit'"));
  }
  const config = {
    compilerOptions: {
      target: 'ES2022',
      lib: ['ES2022', 'ESNext.Disposable'],
      module: 'NodeNext',
      moduleResolution: 'NodeNext',
      strict: true,
      noUncheckedIndexedAccess: true,
      // The strictest a user may be: an option given as undefined must still be accepted.
      exactOptionalPropertyTypes: true,
      noEmit: true,
      skipLibCheck: false,
      types: ['node'],
      typeRoots: [join(ROOT, 'node_modules', '@types')],
      paths: { shmkit: [join(DECLARATIONS, 'index.d.ts')] },
    },
    files: ['program.ts', ...CASES.map(([file]) => file)],
  };
  const parsed = ts.parseJsonConfigFileContent(config, ts.sys, dir);
  const host = ts.createCompilerHost(parsed.options);
  // As tsc reads a TypeScript file: it parses a doc comment only for @see or @link (no type comes from one).
  host.jsDocParsingMode = ts.JSDocParsingMode.ParseForTypeErrors;
  const program = ts.createProgram({
    rootNames: parsed.fileNames,
    options: parsed.options,
    host,
    configFileParsingDiagnostics: parsed.errors,
  });
  const checked = program
    .getSourceFiles()
    .filter((file) => !program.isSourceFileDefaultLibrary(file) && !program.isSourceFileFromExternalLibrary(file));
  // A checkout inside a node_modules would make shmkit's declarations a library too, checked no more.
  const index = join(DECLARATIONS, 'index.d.ts');
  assert.ok(
    checked.some((file) => file.fileName === index),
    `${index} is checked as shmkit's (checked: ${checked.map((file) => file.fileName).join(' ')})`,
  );
  const diagnostics = [
    ...program.getConfigFileParsingDiagnostics(),
    ...program.getOptionsDiagnostics(),
    ...program.getSyntacticDiagnostics(),
    ...checked.flatMap((file) => program.getSemanticDiagnostics(file)),
    ...program.getGlobalDiagnostics(),
  ];
  const names = { getCurrentDirectory: () => dir, getCanonicalFileName: (name: string) => name, getNewLine: () => '\n' };
  complaints = ts
    .formatDiagnostics(diagnostics, names)
    .split('\n')
    .filter((line) => line !== '');
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The compiler's complaints about one file of the project (each starts with the file's name). */
function complaintsAbout(file: string): string[] {
  assert.ok(complaints, 'the program was checked');
  return complaints.filter((line) => line.startsWith(`${file}(`));
}

describe('the published declarations', () => {
  it('hold no @internal member', () => {
    const files = readdirSync(DECLARATIONS, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.d.ts'));
    assert.ok(files.includes('index.d.ts'), 'dist/src/index.d.ts is built');
    for (const file of files) {
      assert.doesNotMatch(readFileSync(join(DECLARATIONS, file), 'utf8'), /@internal/, `${file} ships an @internal member`);
    }
  });

  it('type-check a program that uses the public API, with skipLibCheck off', () => {
    assert.deepEqual(complaintsAbout('program.ts'), []);
  });

  for (const [file, what] of CASES) {
    it(`type-check the cases of test/types/${file}: ${what}`, () => {
      assert.deepEqual(complaintsAbout(file), []);
    });
  }

  it('leave tsc nothing else to complain of', () => {
    assert.ok(complaints, 'the program was checked');
    assert.deepEqual(complaints, []);
  });
});
