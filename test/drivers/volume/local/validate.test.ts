// test/drivers/volume/local/validate.test.ts — names, labels and options tsd-local accepts or
// rejects, each rejection naming the option and the cause.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { parseMountOptions } from '../../../../core/kernel/mount.js';
import { parseSize, redact, validateLabels, validateOptions, validateVolumeName } from '../../../../drivers/volume/local/validate.js';
import { BAD_NAMES, BAD_OPTION_CASES } from './bad-options.js';

const env = {
  filesystems: () => new Set(['tmpfs', 'ext4', 'nfs', 'cifs']),
  parseMountOptions,
  pathExists: (p: string) => fs.existsSync(p),
};

describe('tsd-local validation', () => {
  it('accepts Docker-style names', () => {
    for (const n of ['ab', 'my-vol', 'db_data.1', 'A0', 'a..b', 'x'.repeat(255)]) assert.equal(validateVolumeName(n), n);
  });

  for (const c of BAD_NAMES) {
    it(`rejects the name ${JSON.stringify(c.name.slice(0, 12))}`, () => {
      assert.throws(() => validateVolumeName(c.name), (e: Error & { code?: string }) => e.code === 'InvalidArgument' && c.names.test(e.message));
    });
  }

  for (const c of BAD_OPTION_CASES) {
    it(`rejects ${JSON.stringify(c.options)}`, () => {
      assert.throws(() => validateOptions(c.options, env), (e: Error & { code?: string }) => {
        assert.equal(e.code, 'InvalidArgument');
        assert.match(e.message, c.names);
        return true;
      });
    });
  }

  it('lists the kernel filesystems when the type is unknown', () => {
    assert.throws(() => validateOptions({ type: 'zfs', device: 'pool' }, env), /this kernel mounts cifs, ext4, nfs, tmpfs/);
  });

  it('builds the mount for tmpfs, bind and other filesystems', () => {
    assert.equal(validateOptions({}, env), undefined);
    assert.equal(validateOptions(null, env), undefined);
    assert.deepEqual(validateOptions({ type: 'tmpfs', device: 'tmpfs', o: 'size=64m,mode=1777,uid=1000,noexec' }, env),
      { type: 'tmpfs', device: 'tmpfs', o: 'size=64m,mode=1777,uid=1000,noexec', bind: false });
    assert.deepEqual(validateOptions({ type: 'tmpfs', device: 'tmpfs', size: '1.5k' }, env),
      { type: 'tmpfs', device: 'tmpfs', o: 'size=1536', bind: false });
    assert.deepEqual(validateOptions({ type: 'none', device: '/tmp', o: 'rbind,ro' }, env),
      { type: 'none', device: '/tmp', o: 'rbind,ro', bind: true });
    assert.equal(validateOptions({ type: 'nfs', device: ':/export', o: 'addr=nas.example,vers=4' }, env)?.o, 'addr=nas.example,vers=4');
    assert.throws(() => validateOptions({ type: 'cifs', device: '//srv:445/share' }, env), /option "device": no port in a CIFS device URL/);
    assert.throws(() => validateOptions({ type: 'nfs', device: ':/x', o: 'addr=' }, env), /option "o": addr= needs an address/);
    assert.throws(() => validateOptions({ type: 1 } as unknown as Record<string, string>, env), /option "type": value must be a string/);
  });

  it('parses sizes like Docker and redacts passwords', () => {
    assert.equal(parseSize('64m'), 64 * 1024 * 1024);
    assert.equal(parseSize('1g'), 1024 ** 3);
    assert.equal(parseSize('10 KiB'), 10240);
    assert.equal(parseSize('512'), 512);
    assert.equal(parseSize('x'), undefined);
    assert.equal(redact('username=u,password=secret,vers=3'), 'username=u,password=********,vers=3');
  });

  it('validates labels', () => {
    assert.deepEqual(validateLabels({ a: 'b' }), { a: 'b' });
    assert.deepEqual(validateLabels(undefined), {});
    assert.throws(() => validateLabels({ '': 'x' }), /label "": a key may not be empty/);
    assert.throws(() => validateLabels({ k: 3 }), /label "k": value must be a string/);
  });
});
