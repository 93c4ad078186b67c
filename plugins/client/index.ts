// plugins/client — tsd calling external drivers over Docker's plugin protocol.
// Entry points: PluginDriverSource (core's RemoteDriverSource: give it to `new DriverRegistry(...)`),
// LocalPluginDiscovery / PluginLocator (where plugins are found; managed bundles plug in here),
// PluginClient (one plugin's transport), and the Remote*Driver proxies.

export * from './discovery.js';
export * from './retry.js';
export * from './plugin-client.js';
export * from './remote-network-driver.js';
export * from './remote-ipam-driver.js';
export * from './remote-volume-driver.js';
export * from './remote-graph-driver.js';
export * from './driver-source.js';
