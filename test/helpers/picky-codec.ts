// A codec that refuses the byte 0xff, as a JSON codec refuses bytes another
// program wrote that are not JSON: for the tests of decode errors.

/** Encodes a number 0-255 as one byte; decoding 0xff throws a SyntaxError. */
export const picky = {
  name: 'picky',
  encode: (value: number) => Uint8Array.of(value),
  decode: (bytes: Uint8Array): number => {
    if (bytes[0] === 0xff) throw new SyntaxError('0xff is not a value');
    return bytes[0]!;
  },
};
