// The output of `hexdump -C`, byte for byte: 16 bytes a line as hex and
// printable ASCII, a run of lines equal to the one before shown as one "*",
// and the address after the last byte on a line of its own.

function address(n: number): string {
  return n.toString(16).padStart(8, '0');
}

const HEX = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, '0'));

/**
 * Formats a stream of bytes fed in chunks of any size. `start` is the
 * address of the first byte (hexdump -s: lines are 16 bytes from there).
 */
export class HexDump {
  #address: number;
  #pending = new Uint8Array(16);
  #pendingLength = 0;
  #previous: Uint8Array | undefined;
  #starred = false;
  #any = false;

  constructor(start = 0) {
    this.#address = start;
  }

  /** The lines for `chunk` (those not waiting for more bytes). */
  push(chunk: Uint8Array): string {
    let out = '';
    let i = 0;
    if (chunk.length > 0) this.#any = true;
    while (i < chunk.length) {
      const take = Math.min(16 - this.#pendingLength, chunk.length - i);
      this.#pending.set(chunk.subarray(i, i + take), this.#pendingLength);
      this.#pendingLength += take;
      i += take;
      if (this.#pendingLength === 16) out += this.#line(this.#pending);
    }
    return out;
  }

  /** The last, partial line and the final address. */
  end(): string {
    let out = '';
    if (this.#pendingLength > 0) out += this.#line(this.#pending.subarray(0, this.#pendingLength));
    // hexdump prints the final address unless it would be 0 (an empty input), and
    // nothing at all when asked for no bytes.
    if (this.#any || this.#address !== 0) out += `${address(this.#address)}\n`;
    return out;
  }

  #line(bytes: Uint8Array): string {
    const full = bytes.length === 16;
    const repeated = full && this.#previous !== undefined && bytes.every((b, i) => b === this.#previous![i]);
    const at = this.#address;
    this.#address += bytes.length;
    this.#pendingLength = 0;
    if (repeated) {
      if (this.#starred) return '';
      this.#starred = true;
      return '*\n';
    }
    this.#starred = false;
    this.#previous = Uint8Array.from(bytes);
    let hex = '';
    let text = '';
    for (let i = 0; i < 16; i++) {
      const b = bytes[i];
      hex += b === undefined ? '   ' : `${HEX[b]} `;
      if (i === 7) hex += ' ';
      if (b !== undefined) text += b >= 0x20 && b <= 0x7e ? String.fromCharCode(b) : '.';
    }
    return `${address(at)}  ${hex} |${text}|\n`;
  }
}
