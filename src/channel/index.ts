// The channel layer's public names.
export { Channel } from './channel.js';
export type { ChannelCreateOptions, ChannelOpenOptions } from './channel.js';
export { Sender } from './sender.js';
export type { MessageData, ChannelWaitOptions } from './sender.js';
export { Receiver } from './receiver.js';
export type { ReceivedView } from './receiver.js';
export { ChannelError } from '../core/errors.js';
export type { ChannelErrorCode } from '../core/errors.js';
export type { WaitMode } from './format.js';
export * from './service/index.js';
