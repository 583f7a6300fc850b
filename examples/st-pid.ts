// `struct st_pid { int pid; char name[51]; }` as the C compiler lays it out:
// pid at offset 0, name at 4, 56 bytes in all (padded to int's alignment).
// (src/struct does this for any struct; here it is spelled out by hand.)

/** sizeof(struct st_pid). */
export const ST_PID_SIZE = 56;
const NAME_OFFSET = 4;
const NAME_SIZE = 51;

/** The examples' key, or SHMKIT_EXAMPLE_KEY from the environment (tests pass their own). */
export function exampleKey(): number {
  const fromEnv = process.env.SHMKIT_EXAMPLE_KEY;
  return fromEnv === undefined ? 0x5005 : Number(fromEnv);
}

export interface StPid {
  pid: number;
  name: string;
}

/** Reads the struct from the start of `bytes` (the name up to its NUL). */
export function readStPid(bytes: Uint8Array): StPid {
  const view = new DataView(bytes.buffer, bytes.byteOffset, ST_PID_SIZE);
  const name = bytes.subarray(NAME_OFFSET, NAME_OFFSET + NAME_SIZE);
  const end = name.indexOf(0);
  return { pid: view.getInt32(0, true), name: new TextDecoder().decode(end === -1 ? name : name.subarray(0, end)) };
}

/** Writes the struct in place, like `stpid->pid = ...; strcpy(stpid->name, ...)` (but refusing overflow). */
export function writeStPid(bytes: Uint8Array, value: StPid): void {
  const name = new TextEncoder().encode(value.name);
  if (name.length >= NAME_SIZE) throw new RangeError(`name is ${name.length} bytes; st_pid.name holds at most ${NAME_SIZE - 1}`);
  new DataView(bytes.buffer, bytes.byteOffset, ST_PID_SIZE).setInt32(0, value.pid, true);
  bytes.fill(0, NAME_OFFSET, NAME_OFFSET + NAME_SIZE);
  bytes.set(name, NAME_OFFSET);
}
