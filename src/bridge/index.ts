// The bridge layer's public names.
export { bridge, Bridge } from './bridge.js';
export type { BridgeStats } from './bridge.js';
export type { BridgeOptions, BridgeDirection, BridgeJetStreamOptions, ChannelRef, PubSubRef } from './options.js';
