// The service's own bytes: the header of its segment (what an opener checks)
// and the small headers in front of each request and reply. The requests
// and replies themselves travel in ordinary channels; all numbers are
// little-endian (every platform shmkit runs on).

/** 'SKSV' read as a little-endian 32-bit word: marks a shmkit service. */
export const MAGIC = 0x5653_4b53;
/**
 * Bumped on any change an opener of the previous version would misread.
 * 2: clients mark their reply channels (REPLY_MARK), and servers write only
 * into marked ones; a version 1 client's channels have no mark.
 */
export const VERSION = 2;
/** The service segment: one page. */
export const SEGMENT_SIZE = 4096;

// Header fields, as byte offsets. The magic is written last.
export const OFF_MAGIC = 0;
export const OFF_VERSION = 4;
/** The request channel's segment id. */
export const OFF_REQUESTS = 8;
/** Permission bits every channel of the service gets (the clients' reply channels too). */
export const OFF_MODE = 12;
/** The request channel's capacity: the default capacity of a client's reply channel. */
export const OFF_CAPACITY = 16;
/** The codec's name: its length in bytes, then up to CODEC_NAME_MAX bytes of UTF-8. */
export const OFF_CODEC_LENGTH = 20;
export const OFF_CODEC_NAME = 24;
export const CODEC_NAME_MAX = 64;
/**
 * The serving thread's presence token (two words, 0 when nobody serves) and
 * pid (for people): clients fail their pending requests once it is gone.
 */
export const OFF_SERVER_PRESENCE = 128;
export const OFF_SERVER_PID = 136;
/**
 * How many servers died and were replaced: a new server that finds its
 * predecessor's record not cleared (it died serving) adds one before it
 * records itself. A client fails a pending request once this moved since it
 * sent it, since the dead server may have taken it (older services have 0).
 */
export const OFF_SERVER_DEATHS = 140;

/**
 * Reply channels a server could not open (EACCES: its user may not attach
 * them), where their clients see it: a counter at OFF_REFUSED_NEXT picks the
 * next of REFUSED_SLOTS slots at OFF_REFUSED, each the channel's segment id
 * and its client's nonce. A client that finds its own pair fails its pending
 * requests (no reply can come) and clears the slot.
 */
export const OFF_REFUSED_NEXT = 144;
export const OFF_REFUSED = 256;
export const REFUSED_SLOTS = 16;

/**
 * A request: the client's reply channel (segment id), the client's nonce and
 * the request's sequence number (which the reply repeats), the client's
 * presence token and pid, then the encoded value.
 */
export const REQUEST = { replyChannel: 0, nonce: 4, seq: 8, presence0: 12, presence1: 16, pid: 20 } as const;
export const REQUEST_HEADER = 24;

/** A reply: nonce and sequence number of its request, its status, then the encoded value or error. */
export const REPLY = { nonce: 0, seq: 4, status: 8 } as const;
export const REPLY_HEADER = 16;
export const STATUS_OK = 0;
/** The payload is the handler's error as UTF-8 JSON: { name, message, code? }. */
export const STATUS_ERROR = 1;

/**
 * The mark a client writes into its reply channel's header (in the channel
 * format's reserved space, byte offsets) before its first request: the magic,
 * then this service's segment id and request channel id. A server sends a
 * reply only into a channel that carries its own service's mark, so a request
 * cannot make it write into another channel it can open (one its clients
 * cannot write: a confused deputy). Only a process that can write a channel
 * can mark it.
 */
export const OFF_REPLY_MARK = 1024;
export const OFF_REPLY_SERVICE = 1028;
export const OFF_REPLY_REQUESTS = 1032;
/** 'SKRP' read as a little-endian 32-bit word. */
export const REPLY_MARK = 0x5052_4b53;
