// Errors of the channel layer. System calls still fail with IpcError; these
// are the channel's own conditions, each with a stable code.

export type ChannelErrorCode =
  /** The channel was closed (receiver.close() or channel.close()), or this endpoint was. */
  | 'ERR_CHANNEL_CLOSED'
  /** The other side's process died: the receiver, or every registered sender. */
  | 'ERR_CHANNEL_PEER_DEAD'
  /** The segment is not a channel of a format this version reads. */
  | 'ERR_CHANNEL_FORMAT'
  /** timeoutMs elapsed (the code semaphore waits use too). */
  | 'ETIMEDOUT'
  /** The endpoint is taken or in a state that forbids the call. */
  | 'ERR_CHANNEL_BUSY';

/** A channel condition, with a stable `code`. */
export class ChannelError extends Error {
  readonly code: ChannelErrorCode;

  constructor(code: ChannelErrorCode, message: string) {
    super(message);
    this.name = 'ChannelError';
    this.code = code;
  }
}

/** The AbortError of Node's promise APIs: a DOMException whose cause is the signal's reason. */
export function abortError(signal: AbortSignal): DOMException {
  return new DOMException('The operation was aborted', { name: 'AbortError', cause: signal.reason });
}
