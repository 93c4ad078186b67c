// test/core/kernel/mount.test.ts — option parsing and the mountinfo parser (no root needed).
import assert from 'node:assert/strict';
import { MS, parseMountInfo, parseMountOptions, mountsUnder, overlayOptionString } from '../../../core/kernel/mount.js';

describe('mount helpers', () => {
  it('splits flags from filesystem data like mount(8)', () => {
    assert.deepEqual(parseMountOptions('ro,nosuid,size=64m,mode=0755'), { flags: MS.RDONLY | MS.NOSUID, data: 'size=64m,mode=0755' });
    assert.deepEqual(parseMountOptions('defaults,rw'), { flags: 0, data: '' });
    assert.equal(parseMountOptions('rbind').flags, MS.BIND | MS.REC);
  });

  it('parses mountinfo including escapes and optional fields', () => {
    const text = [
      '22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw',
      '90 22 0:50 / /var/lib/tsd/overlay2/abc/merged rw,relatime - overlay overlay rw,lowerdir=/a:/b,upperdir=/u,workdir=/w',
      '91 22 0:51 / /mnt/with\\040space rw - tmpfs tmpfs rw,size=1024k',
    ].join('\n');
    const m = parseMountInfo(text);
    assert.equal(m.length, 3);
    assert.deepEqual(m[0]!.optional, ['shared:1']);
    assert.equal(m[1]!.fsType, 'overlay');
    assert.ok(m[1]!.superOptions.includes('upperdir=/u'));
    assert.equal(m[2]!.mountPoint, '/mnt/with space');
    assert.deepEqual(mountsUnder('/var/lib/tsd', m).map((x) => x.mountId), [90]);
  });

  it('builds overlay option strings', () => {
    assert.equal(overlayOptionString({ lowerdirs: ['/l1', '/l2'], upperdir: '/u', workdir: '/w', extra: ['index=off'] }),
      'index=off,lowerdir=/l1:/l2,upperdir=/u,workdir=/w');
  });
});
