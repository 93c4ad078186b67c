// test/core/model/sandbox-volume-spec.test.ts — "NAME:/path[:ro|rw]" parsing for sandbox volumes,
// and the target checks of the in-root mount: every bad form is refused with the reason.
import assert from 'node:assert/strict';
import { targetComponents } from '../../../core/kernel/mount-in-root.js';
import { parseVolumeSpec } from '../../../core/model/sandbox.js';

describe('sandbox volume specs', () => {
  it('parses name, target (normalised) and mode', () => {
    assert.deepEqual(parseVolumeSpec('data:/data'), { name: 'data', target: '/data', readonly: false });
    assert.deepEqual(parseVolumeSpec('v1:/mnt//x/:ro'), { name: 'v1', target: '/mnt/x', readonly: true });
    assert.deepEqual(parseVolumeSpec('v1:/x:rw'), { name: 'v1', target: '/x', readonly: false });
  });

  it('refuses bad specs with the reason', () => {
    const bad: Array<[string, RegExp]> = [
      ['data', /"data": expected NAME:\/PATH\[:ro\|rw\]/],
      ['a:/b:ro:x', /expected NAME:\/PATH/],
      ['../x:/data', /volume name "..\/x": only/],
      [':/data', /volume name "": must not be empty/],
      ['data:rel', /mount path "rel" must be absolute/],
      ['data:/a/../etc', /must not contain "." or ".."/],
      ['data:/', /cannot mount a volume over the root/],
      ['data:/x:rx', /mode "rx" is not ro or rw/],
    ];
    for (const [spec, re] of bad) assert.throws(() => parseVolumeSpec(spec), re, spec);
  });

  it('in-root targets: absolute, no dot components, not the root', () => {
    assert.deepEqual(targetComponents('/a//b/'), ['a', 'b']);
    assert.throws(() => targetComponents('a'), /must be absolute/);
    assert.throws(() => targetComponents('/a/../b'), /must not contain/);
    assert.throws(() => targetComponents('/./'), /must not contain/);
    assert.throws(() => targetComponents('/'), /cannot mount over the root/);
  });
});
