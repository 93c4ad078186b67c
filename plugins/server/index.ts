// plugins/server — tsd serving its drivers to dockerd (and to other tsd instances) over Docker's
// plugin protocol. Entry points: servePlugin(name, drivers, { socketDir, log }) and
// createPluginHandler(drivers, opts) for other listeners.

export * from './serve.js';
