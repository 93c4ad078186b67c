// test/drivers/volume/local/bad-options.ts — every kind of bad tsd-local option, each with the
// word its error message must contain (shared by the unit tests and integration/volume).

export interface BadOptionCase {
  options: Record<string, string>;
  /** The error message must match this (names the option and the cause). */
  names: RegExp;
}

export const BAD_OPTION_CASES: BadOptionCase[] = [
  { options: { colour: 'blue' }, names: /option "colour": unknown/ },
  { options: { type: 'tmpfs' }, names: /option "type": needs option "device"/ },
  { options: { device: 'tmpfs' }, names: /option "device": needs option "type"/ },
  { options: { o: 'size=1m' }, names: /option "o": needs option "type"/ },
  { options: { type: 'tmpfs', device: 'tmpfs', o: 'size=1m,,mode=0755' }, names: /option "o": empty entry/ },
  { options: { type: 'tmpfs', device: 'tmpfs', o: 'size=1m,bogus=1' }, names: /option "o": "bogus=1" is not a tmpfs option/ },
  { options: { type: 'tmpfs', device: 'tmpfs', o: 'size=lots' }, names: /option "o": "size=lots" has a bad value for tmpfs size/ },
  { options: { type: 'tmpfs', device: 'tmpfs', o: 'mode=999' }, names: /option "o": "mode=999" has a bad value for tmpfs mode/ },
  { options: { type: 'tmpfs', device: 'tmpfs', o: 'size =1m' }, names: /option "o": "size =1m" is not a mount option/ },
  { options: { type: 'tmpfs', device: 'tmpfs', size: '12x' }, names: /option "size": "12x" is not a size/ },
  { options: { type: 'tmpfs', device: 'tmpfs', size: '1m', o: 'size=2m' }, names: /option "size": given twice/ },
  { options: { type: 'ext4', device: '/dev/null', size: '1g' }, names: /option "size": only for type=tmpfs/ },
  { options: { type: 'nosuchfs', device: 'x' }, names: /option "type": unknown filesystem "nosuchfs"/ },
  { options: { type: 'none', device: '/tmp' }, names: /option "type": "none" mounts nothing/ },
  { options: { type: 'none', device: '/nonexistent/tsd-volume-src', o: 'bind' }, names: /option "device": bind source \/nonexistent\/tsd-volume-src does not exist/ },
  { options: { type: 'none', device: 'relative/dir', o: 'bind' }, names: /option "device": "relative\/dir" must be an absolute path/ },
  { options: { type: 'none', device: '/tmp', o: 'bind,size=1m' }, names: /option "o": "size=1m" has no meaning for a bind mount/ },
  { options: { type: 'tmpfs', device: '' }, names: /option "device": empty/ },
];

export const BAD_NAMES: Array<{ name: string; names: RegExp }> = [
  { name: '', names: /volume name: empty/ },
  { name: 'a', names: /volume name "a": only \[a-zA-Z0-9\]/ },
  { name: '..', names: /volume name "..": may not start with "."/ },
  { name: '../etc', names: /volume name "..\/etc": contains a path separator/ },
  { name: 'a/b', names: /volume name "a\/b": contains a path separator/ },
  { name: '-x', names: /volume name "-x": only/ },
  { name: 'has space', names: /volume name "has space": only/ },
  { name: 'x'.repeat(256), names: /256 characters, at most 255/ },
];
