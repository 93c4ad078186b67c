// test/drivers/graph/archive/apply.test.ts — tar parsing and the breakout rules of layer apply:
// tars built in-test (tar-stream), applied to temp dirs, and checked with lstat afterwards.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { applyLayer } from '../../../../drivers/graph/archive/apply.js';
import { cleanEntryName } from '../../../../drivers/graph/archive/layer-path.js';
import { TarParser } from '../../../../drivers/graph/archive/tar-parser.js';
import type { TarEntry } from '../../../../drivers/graph/archive/tar-format.js';
import { encodeHeader, END_OF_ARCHIVE } from '../../../../drivers/graph/archive/tar-writer.js';
import { filesApi } from '../../../../core/kernel/index.js';
import { buildTar, chunked, chunkedSync } from './tar-fixtures.js';

const files = filesApi;

function parseAll(buf: Buffer, size = 333): Array<TarEntry & { body: string }> {
  const out: Array<TarEntry & { body: string }> = [];
  const p = new TarParser({
    entry: (e) => out.push({ ...e, body: '' }),
    data: (c) => { out[out.length - 1]!.body += c.toString(); },
    endEntry: () => {},
  });
  for (const c of chunkedSync(buf, size)) p.push(c);
  p.finish();
  return out;
}

describe('archive: tar parser', () => {
  it('reads ustar, PAX long names, xattrs and data across chunk boundaries', async () => {
    const long = 'd/' + 'x'.repeat(200) + '/f';
    const tar = await buildTar([
      { name: 'a/', type: 'directory', mode: 0o755 },
      { name: 'a/hello', body: 'hello world', mode: 0o4755 },
      { name: long, body: 'deep' },
      { name: 'a/ln', type: 'symlink', linkname: '../a/hello' },
      { name: 'a/x', body: 'x', pax: { 'SCHILY.xattr.user.k': 'v1' } },
    ]);
    for (const size of [1, 100, 512, 513, 100000]) {
      const es = parseAll(tar, size);
      assert.deepEqual(es.map((e) => [e.name, e.type, e.body]), [
        ['a/', 'dir', ''], ['a/hello', 'file', 'hello world'], [long, 'file', 'deep'], ['a/ln', 'symlink', ''], ['a/x', 'file', 'x'],
      ]);
      assert.equal(es[1]!.mode, 0o4755);
      assert.equal(es[3]!.linkname, '../a/hello');
      assert.equal(es[4]!.xattrs?.get('user.k')?.toString(), 'v1');
      assert.equal(es[0]!.mtime, 1_700_000_000);
    }
  });

  it('reads its own writer output (PAX path, linkpath, big uid, xattrs)', () => {
    const name = 'ü/'.repeat(80) + 'file';
    const tar = Buffer.concat([
      encodeHeader({ name, type: 'file', mode: 0o640, uid: 3_000_000, gid: 7, size: 3, mtime: 12345, xattrs: new Map([['user.a', Buffer.from([0, 1, 255])]]) }),
      Buffer.from('abc'), Buffer.alloc(509),
      encodeHeader({ name: 'l', type: 'symlink', mode: 0o777, uid: 0, gid: 0, size: 0, mtime: 1, linkname: 't/'.repeat(70) }),
      END_OF_ARCHIVE,
    ]);
    const es = parseAll(tar);
    assert.equal(es[0]!.name, name);
    assert.equal(es[0]!.uid, 3_000_000);
    assert.deepEqual([...es[0]!.xattrs!.get('user.a')!], [0, 1, 255]);
    assert.equal(es[0]!.body, 'abc');
    assert.equal(es[1]!.linkname, 't/'.repeat(70));
  });

  it('refuses a bad checksum, a truncated stream, huge names and unknown types', async () => {
    const good = await buildTar([{ name: 'f', body: 'abc' }]);
    const bad = Buffer.from(good);
    bad[10] = 0x41;
    assert.throws(() => parseAll(bad), /bad header checksum/);
    assert.throws(() => parseAll(good.subarray(0, 600)), /truncated/);
    const huge = Buffer.concat([encodeHeader({ name: 'a/'.repeat(2100) + 'f', type: 'file', mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 0 }), END_OF_ARCHIVE]);
    assert.throws(() => parseAll(huge), /longer than PATH_MAX/);
    const comp = Buffer.concat([encodeHeader({ name: 'x'.repeat(300), type: 'file', mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 0 }), END_OF_ARCHIVE]);
    assert.throws(() => parseAll(comp), /longer than NAME_MAX/);
    const sock = await buildTar([{ name: 'f', body: '' }]);
    sock[156] = 'Z'.charCodeAt(0);
    // fix the checksum so only the type is wrong
    sock.fill(0x20, 148, 156);
    let sum = 0; for (let i = 0; i < 512; i++) sum += sock[i]!;
    sock.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'latin1');
    assert.throws(() => parseAll(sock), /unsupported entry type "Z"/);
  });
});

describe('archive: entry names', () => {
  it('cleans names like filepath.Clean + Join and refuses climbing out', () => {
    assert.deepEqual(cleanEntryName('./a//b/./c/'), ['a', 'b', 'c']);
    assert.deepEqual(cleanEntryName('/etc/passwd'), ['etc', 'passwd']);
    assert.deepEqual(cleanEntryName('/../../etc/x'), ['etc', 'x']);
    assert.deepEqual(cleanEntryName('a/../b'), ['b']);
    assert.throws(() => cleanEntryName('../x'), /climbs above the layer root/);
    assert.throws(() => cleanEntryName('a/../../x'), /breakout/);
  });
});

// Every apply behaviour is checked three times: from a stream of odd-sized chunks, from a file
// descriptor (the pooled-buffer reader) and from an fs.ReadStream of a file (read through its path).
for (const via of ['chunks', 'fd', 'file'] as const) describe(`archive: apply (${via} input)`, () => {
  let tmp: string;
  let dest: string;
  let outside: string;
  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsd-apply-'));
    dest = path.join(tmp, 'layer');
    outside = path.join(tmp, 'outside');
    fs.mkdirSync(dest);
    fs.mkdirSync(outside);
  });
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  const apply = async (tar: Buffer, whiteouts: 'aufs' | 'overlay' = 'aufs') => {
    if (via === 'chunks') return applyLayer(chunked(tar, 4096), dest, { files, whiteouts });
    const input = path.join(tmp, 'input.tar');
    fs.writeFileSync(input, tar);
    if (via === 'file') return applyLayer(fs.createReadStream(input), dest, { files, whiteouts });
    const fd = fs.openSync(input, 'r');
    try {
      return await applyLayer({ fd }, dest, { files, whiteouts });
    } finally {
      fs.closeSync(fd);
    }
  };
  const listing = (d: string) => fs.readdirSync(d, { recursive: true }).map(String).sort();

  it('writes files, dirs, symlinks, hardlinks with modes and mtimes, and digests the stream', async () => {
    const tar = await buildTar([
      { name: 'bin/', type: 'directory', mode: 0o750, mtime: new Date(1_600_000_000_000) },
      { name: 'bin/tool', body: 'x'.repeat(1000), mode: 0o755 },
      { name: 'bin/alias', type: 'link', linkname: 'bin/tool' },
      { name: 'bin/sh', type: 'symlink', linkname: '/bin/tool' },
      { name: 'etc/conf', body: 'k=v', mode: 0o600 },
    ]);
    const r = await apply(tar);
    assert.equal(r.diffId, 'sha256:' + crypto.createHash('sha256').update(tar).digest('hex'));
    assert.equal(r.size, 1003);
    assert.equal(r.entries, 5);
    const tool = fs.lstatSync(path.join(dest, 'bin/tool'));
    assert.equal(tool.mode & 0o7777, 0o755);
    assert.equal(tool.nlink, 2);
    assert.equal(fs.lstatSync(path.join(dest, 'bin/alias')).ino, tool.ino);
    assert.equal(fs.readlinkSync(path.join(dest, 'bin/sh')), '/bin/tool');
    const bin = fs.lstatSync(path.join(dest, 'bin'));
    assert.equal(bin.mode & 0o7777, 0o750);
    assert.equal(bin.mtimeMs, 1_600_000_000_000, 'directory mtime is set after its children');
    assert.equal(fs.lstatSync(path.join(dest, 'etc')).mode & 0o777, 0o755, 'implicit parents are 0755');
  });

  it('gives every file exactly its mode: set-id bits, bits the umask would mask, other owners', async () => {
    const modes: Record<string, number> = { plain: 0o644, ro: 0o444, suid: 0o4755, sgid: 0o2711, all: 0o777, gw: 0o664, x: 0o100 };
    const tar = await buildTar([
      ...Object.entries(modes).map(([name, mode]) => ({ name, body: name, mode })),
      { name: 'owned', body: 'o', mode: 0o4750, uid: 1234, gid: 5678 },
    ]);
    await apply(tar);
    for (const [name, mode] of Object.entries(modes)) {
      const st = fs.lstatSync(path.join(dest, name));
      assert.equal((st.mode & 0o7777).toString(8), mode.toString(8), name);
      assert.equal(fs.readFileSync(path.join(dest, name), 'utf8'), name);
    }
    const owned = fs.lstatSync(path.join(dest, 'owned'));
    assert.deepEqual([owned.uid, owned.gid, (owned.mode & 0o7777).toString(8)], [1234, 5678, '4750'], 'chown first, then the set-id mode');
  });

  it('normalises absolute names into the layer (as moby does): /etc/x lands in <layer>/etc/x', async () => {
    await apply(await buildTar([{ name: '/etc/tsd-test-abs', body: 'in' }]));
    assert.equal(fs.readFileSync(path.join(dest, 'etc/tsd-test-abs'), 'utf8'), 'in');
    assert.equal(fs.existsSync('/etc/tsd-test-abs'), false);
  });

  for (const [what, entries, re] of [
    ['../x', [{ name: 'ok', body: '1' }, { name: '../x', body: 'evil' }], /climbs above the layer root/],
    ['symlink escape', [{ name: 'esc', type: 'symlink', linkname: '../../outside' }], /points outside the layer/],
    ['write through a symlink', [{ name: 'esc', type: 'symlink', linkname: '/' + 'x' }, { name: 'esc/owned', body: 'evil' }], /is a symlink/],
    ['hardlink escape', [{ name: 'h', type: 'link', linkname: '../outside/secret' }], /points outside the layer/],
  ] as const) {
    it(`refuses ${what} with a clear error and writes nothing outside`, async () => {
      fs.writeFileSync(path.join(outside, 'secret'), 's');
      await assert.rejects(apply(await buildTar(entries as never)), re);
      assert.deepEqual(listing(outside), ['secret']);
      assert.equal(fs.existsSync(path.join(tmp, 'x')), false);
      assert.equal(fs.readFileSync(path.join(outside, 'secret'), 'utf8'), 's');
    });
  }

  it('refuses writing through a symlink to an absolute outside directory', async () => {
    // An absolute target is legal (resolved inside the layer by a container), but we never follow it.
    const tar = await buildTar([{ name: 'o', type: 'symlink', linkname: outside }, { name: 'o/planted', body: 'evil' }]);
    await assert.rejects(apply(tar), /parent "o" is a symlink/);
    assert.deepEqual(listing(outside), []);
  });

  it('AUFS whiteouts delete, opaque markers empty the directory of older content', async () => {
    fs.mkdirSync(path.join(dest, 'keep'));
    fs.writeFileSync(path.join(dest, 'keep/old'), 'o');
    fs.writeFileSync(path.join(dest, 'gone'), 'g');
    fs.mkdirSync(path.join(dest, 'gonedir/sub'), { recursive: true });
    await apply(await buildTar([
      { name: '.wh.gone', body: '' },
      { name: '.wh.gonedir', body: '' },
      { name: 'keep/', type: 'directory', mode: 0o755 },
      { name: 'keep/.wh..wh..opq', body: '' },
      { name: 'keep/new', body: 'n' },
    ]));
    assert.deepEqual(listing(dest), ['keep', 'keep/new']);
  });

  it('overlay whiteouts become 0/0 char devices and the opaque xattr', async function () {
    if (process.getuid?.() !== 0) this.skip();
    await apply(await buildTar([
      { name: 'd/', type: 'directory', mode: 0o755 },
      { name: 'd/.wh..wh..opq', body: '' },
      { name: 'd/.wh.f', body: '' },
    ]), 'overlay');
    const st = fs.lstatSync(path.join(dest, 'd/f'));
    assert.ok(st.isCharacterDevice());
    assert.equal(st.rdev, 0);
    assert.equal(files.getXattr(path.join(dest, 'd'), 'trusted.overlay.opaque')?.toString(), 'y');
    assert.deepEqual(listing(dest), ['d', 'd/f']);
  });

  it('refuses whiteouts named .wh. / .wh.. and never writes overlay attributes from a tar', async () => {
    await assert.rejects(apply(await buildTar([{ name: 'd/.wh..', body: '' }])), /invalid whiteout name/);
    await apply(await buildTar([{ name: 'x', body: '', pax: { 'SCHILY.xattr.trusted.overlay.redirect': '/etc' } }]));
    assert.equal(files.getXattr(path.join(dest, 'x'), 'trusted.overlay.redirect'), undefined);
  });
});
