// core/api/version.ts — tsd's version and the Docker Engine API versions its API speaks.

export const TSD_VERSION = '0.1.0';
/** Highest Docker Engine API version served (the docker CLI negotiates down from its own). */
export const API_VERSION = '1.45';
/** Lowest accepted in a /vX.Y/ prefix. */
export const MIN_API_VERSION = '1.24';

export function compareApiVersions(a: string, b: string): number {
  const [am, an] = a.split('.').map(Number) as [number, number];
  const [bm, bn] = b.split('.').map(Number) as [number, number];
  return am !== bm ? am - bm : an - bn;
}
