const SUPPORTED_ARCHS = ['x64', 'arm64'];

/** Throws a clear error on anything but Linux x86-64 or arm64, where System V IPC as shmkit uses it exists. */
export function assertSupportedPlatform(platform: string = process.platform, arch: string = process.arch): void {
  if (platform !== 'linux') {
    throw new Error(`shmkit supports Linux only (System V shared memory, futexes); this is ${platform}.`);
  }
  if (!SUPPORTED_ARCHS.includes(arch)) {
    throw new Error(`shmkit supports Linux on x64 and arm64; this is ${arch}.`);
  }
}
