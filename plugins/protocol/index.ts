// plugins/protocol — Docker's plugin wire protocol (plugin-protocol.md), shared by plugins/client
// (tsd calling external drivers) and plugins/server (tsd serving its drivers to dockerd).
// Entry points: the *Method name tables, *Request (strict) / *Reply (lenient) zod schemas,
// parseWire/parseBody/encodeBody, PLUGIN_MEDIA_TYPE, and the wire ↔ core translations.

export * from './wire.js';
export * from './activate.js';
export * from './network-driver.js';
export * from './ipam-driver.js';
export * from './volume-driver.js';
export * from './graph-driver.js';
