// Request/reply between processes: the service pattern's public names.
export { Service } from './service.js';
export type { ServiceCreateOptions, ServiceAddress, ServiceOpenOptions } from './service.js';
export { ServiceServer } from './server.js';
export type { ServiceHandler, ServeOptions, RequestInfo } from './server.js';
export { ServiceClient } from './client.js';
export type { ServiceClientOptions, RequestOptions } from './client.js';
