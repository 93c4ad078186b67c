// drivers/network/macvlan/index.ts — tsd-macvlan's public surface (see macvlan-driver.ts).
export {
  createMacvlanDriver, LINK_PREFIX, MACVLAN_DRIVER_ALIASES, MACVLAN_DRIVER_NAME,
  type MacvlanDriver, type MacvlanEndpointRecord, type MacvlanNetworkRecord, type MacvlanReconcileReport,
} from './macvlan-driver.js';
export {
  HOST_SHIM_AUX_KEY, MACVLAN_MODES, OPT_HOST_SHIM, OPT_MODE, OPT_MTU, OPT_PARENT, parseMacvlanOptions, parseVlanParent,
  type MacvlanNetworkConfig, type MacvlanNetworkMode,
} from './options.js';
