// The channel layer's public names.
export { Channel } from './channel.js';
export type { ChannelCreateOptions, ChannelOpenOptions } from './channel.js';
export { Sender } from './sender.js';
export type { MessageData, ChannelWaitOptions, SendValue, WritableOptions } from './sender.js';
export { Receiver } from './receiver.js';
export type { ReceivedView, ReadableOptions, EventsOptions, RecvBatchOptions } from './receiver.js';
export type { Codec, CodecOption, OpenedValue, ValueOf } from './codec.js';
export { ChannelError } from '../core/errors.js';
export type { ChannelErrorCode } from '../core/errors.js';
export type { WaitMode } from './format.js';
export * from './pubsub/index.js';
export * from './service/index.js';
