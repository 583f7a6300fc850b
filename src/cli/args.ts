// Argument parsing on node:util parseArgs, and the parsers of the values the
// commands take (ids, keys, sizes, modes). Every failure is a UsageError
// naming the argument as the user wrote it.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from './command.js';
import { quote } from './format.js';

type Options = NonNullable<ParseArgsConfig['options']>;

/** What parse gives: each option's value by its type, and the positionals. */
export interface Parsed<O extends Options> {
  values: { [K in keyof O]?: O[K] extends { type: 'boolean' } ? boolean : O[K] extends { multiple: true } ? string[] : string } & {
    help?: boolean;
  };
  positionals: string[];
}

/** The option every command takes. */
export const HELP_OPTION = { help: { type: 'boolean', short: 'h' } } as const;

/**
 * parseArgs in strict mode, with its errors turned into UsageErrors.
 * `--help` is always accepted; callers check `values.help` first.
 */
export function parse<const O extends Options>(argv: string[], options: O, allowPositionals = false): Parsed<O> {
  refuseJoinedNumbers(argv, options);
  let parsed: ReturnType<typeof parseArgs<{ options: Options; tokens: true; allowPositionals: boolean; strict: true }>>;
  try {
    parsed = parseArgs({
      args: joinNegativeValues(argv, options),
      options: { ...options, ...HELP_OPTION },
      allowPositionals,
      strict: true,
      tokens: true,
    });
  } catch (error) {
    throw usageErrorOf(error as Error & { code?: string }, allowPositionals);
  }
  // parseArgs keeps the last of a repeated option: `--size 10 --size 20` would quietly make 20. A
  // switch given twice (`--json --json`, `-m --shm`) is as likely a slip, and the docs refuse it too.
  const seen = new Set<string>();
  for (const token of parsed.tokens) {
    if (token.kind !== 'option' || token.name === 'help' || options[token.name]?.multiple === true) continue;
    if (seen.has(token.name)) throw new UsageError(`--${token.name}`, 'ERR_INVALID_ARG_VALUE', 'is given more than once; give it once');
    seen.add(token.name);
  }
  return { values: parsed.values, positionals: parsed.positionals } as Parsed<O>;
}

function usageErrorOf(e: Error & { code?: string }, allowPositionals: boolean): UsageError {
  const quoted = /'([^']*)'/.exec(e.message)?.[1];
  // Node names an option with an alias as '-i, --interval <value>': the long form, as the user most likely wrote it.
  const arg = (quoted?.includes(', ') ? quoted.split(', ')[1] : quoted)?.split(' ')[0];
  switch (e.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      if (arg !== undefined && NEGATIVE_NUMBER.test(arg)) {
        if (!allowPositionals) return new UsageError(arg, 'ERR_UNEXPECTED_ARGUMENT', 'this command takes no such argument');
        if (MINUS_ZERO.test(arg)) return new UsageError(arg, 'ERR_INVALID_ARG_VALUE', 'has a minus sign; ids are written without one');
        return new UsageError(arg, 'ERR_OUT_OF_RANGE', 'is negative; ids and counts are 0 or more');
      }
      return new UsageError(arg, 'ERR_UNKNOWN_OPTION', 'unknown option');
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return new UsageError(arg, 'ERR_UNEXPECTED_ARGUMENT', 'this command takes no such argument');
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      if (/ambiguous/.test(e.message)) {
        // --interval=-5 for the long form; a short one takes its value joined (-i-5: -i=-5 would give '=-5').
        const joined = arg?.startsWith('--') ? `${arg}=-...` : `${arg}-...`;
        return new UsageError(arg, 'ERR_INVALID_OPTION_VALUE', `needs a value (for one that starts with a dash, write ${joined})`);
      }
      return new UsageError(arg, 'ERR_INVALID_OPTION_VALUE', /missing/.test(e.message) ? 'needs a value' : 'takes no value');
    default:
      return new UsageError(undefined, e.code ?? 'ERR_USAGE', e.message);
  }
}

/** A negative number as a value: -5, -0x10, -1.5. */
const NEGATIVE_NUMBER = /^-(\d|\.\d)/;

/** Zero with a minus sign, which is not negative: -0, -0x0, -0.0, -0K. */
const MINUS_ZERO = /^-(0x0+|0*\.?0+)([kmgt]?(i?b)?)$/i;

/**
 * parseArgs reads `-n3` as `-n -3`, and the error blamed `-3` (as negative).
 * Digits after short switches are a value they do not take: said of the whole
 * argument, with what was likely meant (`-n 3`). A short option that takes a
 * value takes the rest (`-i5`), as parseArgs does.
 */
function refuseJoinedNumbers(argv: string[], options: Options): void {
  const all: Options = { ...options, ...HELP_OPTION };
  const shorts = new Map<string | undefined, { name: string; takesValue: boolean }>(
    Object.entries(all).map(([name, o]) => [o.short, { name, takesValue: o.type === 'string' }]),
  );
  for (const arg of argv) {
    if (arg === '--') return;
    const m = /^-([a-zA-Z]+)(\d.*)$/.exec(arg);
    if (!m) continue;
    const letters = m[1]!;
    if ([...letters].some((c) => shorts.get(c)?.takesValue !== false)) continue;
    const last = letters[letters.length - 1]!;
    throw new UsageError(
      arg,
      'ERR_INVALID_OPTION_VALUE',
      `-${last} (--${shorts.get(last)!.name}) takes no value; for ${m[2]} as an argument, write -${letters} ${m[2]}`,
    );
  }
}

/**
 * parseArgs takes `--length -5` for an option without its value followed by
 * an option `-5`. A negative number after an option that takes a value is
 * that option's value: joined here (`--length=-5`, `-i-5`), so that the
 * value's own parser can say what is wrong with it.
 */
function joinNegativeValues(argv: string[], options: Options): string[] {
  const takesValue = (arg: string): boolean => {
    if (arg.startsWith('--')) return !arg.includes('=') && options[arg.slice(2)]?.type === 'string';
    if (/^-[^-]$/.test(arg)) return Object.values(options).some((o) => o.short === arg[1] && o.type === 'string');
    return false;
  };
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') {
      out.push(...argv.slice(i));
      break;
    }
    const next = argv[i + 1];
    if (next !== undefined && NEGATIVE_NUMBER.test(next) && takesValue(arg)) {
      out.push(arg.startsWith('--') ? `${arg}=${next}` : `${arg}${next}`);
      i++;
    } else {
      out.push(arg);
    }
  }
  return out;
}

function integer(text: string, name: string, radix: 'auto' | 8): bigint {
  const t = text.trim();
  let ok: boolean;
  if (radix === 8) ok = /^(0o)?[0-7]+$/i.test(t);
  else ok = /^-?(0x[0-9a-f]+|0o[0-7]+|0b[01]+|\d+)$/i.test(t);
  if (!ok) {
    throw new UsageError(name, 'ERR_INVALID_ARG_VALUE', `${quote(text)} ${radix === 8 ? 'is not an octal mode' : 'is not an integer'}`);
  }
  if (radix === 8) return BigInt(`0o${t.replace(/^0o/i, '')}`);
  return t.startsWith('-') ? -BigInt(t.slice(1)) : BigInt(t);
}

/**
 * A segment, set or queue id: a non-negative decimal int. Only decimal, as
 * ipcrm: a 0x number is how ls and ipcs print keys, and read as an id it
 * would name another object (rm 0x00000002 removing shmid 2).
 */
export function parseId(text: string, name = text): number {
  const value = integer(text, name, 'auto');
  if (!/^-?\d+$/.test(text.trim())) {
    throw new UsageError(name, 'ERR_INVALID_ARG_VALUE', `${quote(text)} is not a decimal id (keys, as ls prints them, go with --key)`);
  }
  if (MINUS_ZERO.test(text.trim()))
    throw new UsageError(name, 'ERR_INVALID_ARG_VALUE', `${quote(text)} has a minus sign; ids are written without one`);
  if (value < 0n || value > 0x7fff_ffffn)
    throw new UsageError(name, 'ERR_OUT_OF_RANGE', `${quote(text)} is out of range: an id is an integer from 0 to 2147483647`);
  return Number(value);
}

/** A count from 1 to `max` (decimal or 0x): semaphores in a set. */
export function parseCount(text: string, name: string, max: number): number {
  const value = integer(text, name, 'auto');
  if (value < 1n || value > BigInt(max)) throw new UsageError(name, 'ERR_OUT_OF_RANGE', `${quote(text)} is out of range: from 1 to ${max}`);
  return Number(value);
}

/**
 * A key as ipcs prints it (0x1234abcd), or decimal, signed (key_t) or
 * unsigned. Returns key_t, the signed form the kernel and the API use. Key 0
 * is IPC_PRIVATE, which finds nothing and makes a new object every time: a
 * usage error for every command, which says what to give instead.
 */
export function parseKey(text: string, name = '--key'): number {
  const value = integer(text, name, 'auto');
  if (value < -0x8000_0000n || value > 0xffff_ffffn) throw new UsageError(name, 'ERR_OUT_OF_RANGE', `${quote(text)} is not a 32-bit key`);
  if (value === 0n) {
    throw new UsageError(
      name,
      'ERR_INVALID_ARG_VALUE',
      `${quote(text)} is IPC_PRIVATE, the key of no object: private objects are known by id (give the id; to create one, --private)`,
    );
  }
  return Number(value) | 0;
}

/** Permission bits in octal, as chmod takes them (600, 0644, 0o640). */
export function parseMode(text: string, name = '--mode'): number {
  const value = integer(text, name, 8);
  if (value > 0o777n) throw new UsageError(name, 'ERR_OUT_OF_RANGE', `${quote(text)} has bits beyond 0777`);
  return Number(value);
}

const SUFFIX: Record<string, bigint> = { '': 1n, k: 1024n, m: 1024n ** 2n, g: 1024n ** 3n, t: 1024n ** 4n };

/** A byte count or offset: decimal or 0x, optionally with K, M, G or T (powers of 1024, with or without "iB"). */
export function parseBytes(text: string, name: string): number {
  const m = /^(0x[0-9a-f]+|\d+)\s*([kmgt]?)(?:i?b)?$/i.exec(text.trim());
  if (!m && /^-(0x[0-9a-f]+|\d+)\s*([kmgt]?)(?:i?b)?$/i.test(text.trim())) {
    if (MINUS_ZERO.test(text.trim())) {
      throw new UsageError(name, 'ERR_INVALID_ARG_VALUE', `${quote(text)} has a minus sign; a byte count or offset is written without one`);
    }
    throw new UsageError(name, 'ERR_OUT_OF_RANGE', `${quote(text)} is negative; a byte count or offset is 0 or more`);
  }
  if (!m) throw new UsageError(name, 'ERR_INVALID_ARG_VALUE', `${quote(text)} is not a byte count (like 4096, 0x1000, 64K, 1M)`);
  const value = BigInt(m[1]!) * SUFFIX[m[2]!.toLowerCase()]!;
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new UsageError(name, 'ERR_OUT_OF_RANGE', `${quote(text)} is too large`);
  return Number(value);
}

/** The longest delay setTimeout keeps, in seconds (2^31 - 1 ms); a longer one fires at once. */
export const MAX_TIMER_SECONDS = 2_147_483.647;

/** A positive number of seconds (decimals allowed), from `min` to `max`. */
export function parseSeconds(text: string, name: string, max = Infinity, min = 0): number {
  const value = Number(text);
  if (/^-\d*\.?\d+$/.test(text.trim()))
    throw new UsageError(name, 'ERR_OUT_OF_RANGE', `${quote(text)} is not a positive number of seconds`);
  if (!/^\d*\.?\d+$/.test(text.trim()) || !(value > 0))
    throw new UsageError(name, 'ERR_INVALID_ARG_VALUE', `${quote(text)} is not a positive number of seconds`);
  if (value > max || value < min) {
    throw new UsageError(
      name,
      'ERR_OUT_OF_RANGE',
      `${quote(text)} is out of range: ${min > 0 ? `from ${min} to ${max}` : `at most ${max}`} seconds`,
    );
  }
  return value;
}
