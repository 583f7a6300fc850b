// Publish/subscribe's public names.
export { PubSub } from './pubsub.js';
export { Publisher } from './publisher.js';
export { Subscriber } from './subscriber.js';
export type { LagPolicy, PubSubCreateOptions, PubSubLocator, PubSubOpenOptions, PubSubWaitOptions } from './options.js';
