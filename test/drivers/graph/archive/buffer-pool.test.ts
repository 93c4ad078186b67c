// test/drivers/graph/archive/buffer-pool.test.ts — the readers behind descriptor input: pool
// bounds and failure, reads from files and pipes, buffers coming back from the digest worker, and
// applyLayer fed a descriptor, a pipe or a fresh fs.ReadStream (the whole-file path, hashed by the
// worker from the file), digest checked against node's own sha256 of the bytes, tree with lstat.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { BufferPool, readPooled } from '../../../../drivers/graph/archive/buffer-pool.js';
import { OffThreadSha256 } from '../../../../drivers/graph/archive/digest-worker.js';
import { applyLayer } from '../../../../drivers/graph/archive/apply.js';
import { filesApi } from '../../../../core/kernel/index.js';
import { buildTar } from './tar-fixtures.js';

const sha = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');

describe('archive: buffer pool', () => {
  it('creates at most maxBuffers, then waits for a return; ignores foreign buffers', async () => {
    const pool = new BufferPool(16, 2);
    const a = pool.take() as ArrayBuffer;
    const b = pool.take() as ArrayBuffer;
    assert.ok(a instanceof ArrayBuffer && b instanceof ArrayBuffer && a !== b);
    const c = pool.take();
    assert.ok(c instanceof Promise, 'a third take waits');
    pool.give(new ArrayBuffer(8)); // not ours: must not satisfy the waiter
    let got: ArrayBuffer | undefined;
    void (c as Promise<ArrayBuffer>).then((x) => { got = x; });
    await new Promise((r) => setImmediate(r));
    assert.equal(got, undefined);
    pool.give(a);
    await new Promise((r) => setImmediate(r));
    assert.equal(got, a);
    assert.equal(pool.created, 2);
    pool.give(b);
    assert.equal(pool.take(), b, 'a returned buffer is reused, not reallocated');
    assert.equal(pool.created, 2);
  });

  it('fail() rejects every waiter and every later take', async () => {
    const pool = new BufferPool(16, 1);
    pool.take();
    const w = pool.take();
    pool.fail(new Error('worker died'));
    await assert.rejects(w as Promise<ArrayBuffer>, /worker died/);
    await assert.rejects(Promise.resolve(pool.take()), /worker died/);
  });
});

describe('archive: pooled reader', () => {
  let tmp: string;
  beforeEach(() => { tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsd-pool-')); });
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('reads a file from its current position into full pool buffers, recycling them', async () => {
    const data = crypto.randomBytes(10_000);
    const f = path.join(tmp, 'f');
    fs.writeFileSync(f, data);
    const fd = fs.openSync(f, 'r');
    try {
      fs.readSync(fd, Buffer.alloc(100), 0, 100, null); // the reader starts where the caller left off
      const pool = new BufferPool(1024, 3);
      const seen: Buffer[] = [];
      const lengths: number[] = [];
      for await (const c of readPooled(fd, pool)) {
        assert.equal(c.byteOffset, 0);
        assert.equal(c.buffer.byteLength, 1024, 'each chunk is a view of one pool buffer');
        lengths.push(c.length);
        seen.push(Buffer.from(c));
        pool.give(c.buffer as ArrayBuffer);
      }
      assert.deepEqual(Buffer.concat(seen), data.subarray(100));
      assert.deepEqual(lengths, [...Array(9).fill(1024), 9900 - 9 * 1024]);
      assert.ok(pool.created <= 3, `created ${pool.created} buffers`);
    } finally {
      fs.closeSync(fd);
    }
  });

  it('fills whole buffers from a pipe whose writer sends small pieces slowly', async () => {
    const fifo = path.join(tmp, 'fifo');
    await execa('mkfifo', [fifo]);
    const script = `const fs=require('fs');const fd=fs.openSync(${JSON.stringify(fifo)},'w');let i=0;` +
      `const t=setInterval(()=>{fs.writeSync(fd,Buffer.alloc(700,i%251));if(++i===20){clearInterval(t);fs.closeSync(fd);}},2);`;
    const child = spawn(process.execPath, ['-e', script], { stdio: 'inherit' });
    const exited = new Promise((r) => child.on('exit', r));
    const fd = fs.openSync(fifo, 'r');
    try {
      const pool = new BufferPool(4096, 2);
      const lengths: number[] = [];
      const seen: Buffer[] = [];
      for await (const c of readPooled(fd, pool)) {
        lengths.push(c.length);
        seen.push(Buffer.from(c));
        pool.give(c.buffer as ArrayBuffer);
      }
      assert.deepEqual(lengths, [4096, 4096, 4096, 1712], 'short pipe reads are gathered into full buffers');
      const want = Buffer.concat(Array.from({ length: 20 }, (_, i) => Buffer.alloc(700, i % 251)));
      assert.deepEqual(Buffer.concat(seen), want);
    } finally {
      fs.closeSync(fd);
      await exited;
    }
  });

  it('stopping early waits for the read in flight and frees nothing twice', async () => {
    const f = path.join(tmp, 'f');
    fs.writeFileSync(f, crypto.randomBytes(64 * 1024));
    const fd = fs.openSync(f, 'r');
    const pool = new BufferPool(1024, 2);
    let n = 0;
    for await (const c of readPooled(fd, pool)) {
      n++;
      if (n === 2) break; // one read-ahead is in flight, another waits for a buffer
      void c;
    }
    fs.closeSync(fd); // must be safe now: nothing reads this fd any more
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(n, 2);
  });
});

describe('archive: digest worker returning pooled buffers', () => {
  it('hashes owned chunks (even partly filled ones) and hands their buffers back', async () => {
    const returned: ArrayBuffer[] = [];
    const h = new OffThreadSha256({ batchBytes: 3000, returnBuffers: (bs) => returned.push(...bs) });
    const parts: Buffer[] = [];
    const sent: ArrayBuffer[] = [];
    for (let i = 0; i < 5; i++) {
      const ab = new ArrayBuffer(1024);
      const view = Buffer.from(ab, 0, i === 4 ? 100 : 1024);
      view.fill(i + 1);
      parts.push(Buffer.from(view));
      sent.push(ab);
      await h.update(view, true);
    }
    assert.equal(await h.digest(), sha(Buffer.concat(parts)));
    assert.ok(sent.every((ab) => ab.byteLength === 0), 'transferred (detached here), not copied');
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(returned.length, 5);
    assert.ok(returned.every((b) => b.byteLength === 1024));
  });
});

describe('archive: apply from a descriptor', () => {
  let tmp: string;
  let dest: string;
  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsd-applyfd-'));
    dest = path.join(tmp, 'layer');
    fs.mkdirSync(dest);
  });
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  /** A tar of ~20 MiB (past the inline-hash threshold, so the worker path and buffer returns run). */
  async function bigTar(): Promise<{ tar: Buffer; bodies: Map<string, Buffer> }> {
    const bodies = new Map<string, Buffer>();
    const entries = [];
    for (let i = 0; i < 40; i++) {
      const body = crypto.randomBytes(i % 2 ? 1_000_000 + i : 3 + i * 1000);
      bodies.set(`d${i % 4}/f${i}`, body);
      entries.push({ name: `d${i % 4}/f${i}`, body, mode: 0o640 });
    }
    entries.push({ name: 'd0/ln', type: 'symlink' as const, linkname: 'f0' } as never);
    return { tar: await buildTar(entries), bodies };
  }

  function checkTree(bodies: Map<string, Buffer>): void {
    for (const [name, body] of bodies) {
      const p = path.join(dest, name);
      assert.equal(fs.lstatSync(p).mode & 0o7777, 0o640, name);
      assert.ok(fs.readFileSync(p).equals(body), `${name} content`);
    }
    assert.equal(fs.readlinkSync(path.join(dest, 'd0/ln')), 'f0');
  }

  it('a large tar from an fd: right tree, right diff ID, fd left open for the caller', async () => {
    const { tar, bodies } = await bigTar();
    const f = path.join(tmp, 'in.tar');
    fs.writeFileSync(f, tar);
    const fd = fs.openSync(f, 'r');
    try {
      const r = await applyLayer({ fd }, dest, { files: filesApi, whiteouts: 'overlay' });
      assert.equal(r.diffId, `sha256:${sha(tar)}`);
      assert.equal(r.entries, 41);
      checkTree(bodies);
      fs.fstatSync(fd); // still open
    } finally {
      fs.closeSync(fd);
    }
  });

  it('a large tar from a pipe (fifo written by another process)', async () => {
    const { tar, bodies } = await bigTar();
    const f = path.join(tmp, 'in.tar');
    fs.writeFileSync(f, tar);
    const fifo = path.join(tmp, 'fifo');
    await execa('mkfifo', [fifo]);
    const child = spawn('dd', [`if=${f}`, `of=${fifo}`, 'bs=65536', 'status=none'], { stdio: 'inherit' });
    const exited = new Promise((r) => child.on('exit', r));
    const fd = fs.openSync(fifo, 'r');
    try {
      const r = await applyLayer({ fd }, dest, { files: filesApi, whiteouts: 'overlay' });
      assert.equal(r.diffId, `sha256:${sha(tar)}`);
      checkTree(bodies);
    } finally {
      fs.closeSync(fd);
      await exited;
    }
  });

  it('an untouched fs.ReadStream is read through its path and destroyed; a started one is streamed', async () => {
    const { tar, bodies } = await bigTar();
    const f = path.join(tmp, 'in.tar');
    fs.writeFileSync(f, tar);
    const s = fs.createReadStream(f);
    const r = await applyLayer(s, dest, { files: filesApi, whiteouts: 'overlay' });
    assert.equal(r.diffId, `sha256:${sha(tar)}`);
    checkTree(bodies);
    assert.ok(s.destroyed, 'the stream was closed');
    // A stream with a start offset is not a whole file: it goes through the stream path.
    const small = await buildTar([{ name: 'x', body: 'y' }]);
    const g = path.join(tmp, 'pad.tar');
    fs.writeFileSync(g, Buffer.concat([Buffer.alloc(512, 7), small]));
    const dest2 = path.join(tmp, 'layer2');
    fs.mkdirSync(dest2);
    const r2 = await applyLayer(fs.createReadStream(g, { start: 512 }), dest2, { files: filesApi, whiteouts: 'overlay' });
    assert.equal(r2.diffId, `sha256:${sha(small)}`);
    assert.equal(fs.readFileSync(path.join(dest2, 'x'), 'utf8'), 'y');
    // A stream over a fifo is streamed too (opening it ourselves must not block or steal data).
    const fifo = path.join(tmp, 'fifo');
    await execa('mkfifo', [fifo]);
    const dest3 = path.join(tmp, 'layer3');
    fs.mkdirSync(dest3);
    const fromFifo = applyLayer(fs.createReadStream(fifo), dest3, { files: filesApi, whiteouts: 'overlay' });
    const child = spawn('dd', [`if=${g}`, `of=${fifo}`, 'bs=512', 'skip=1', 'status=none'], { stdio: 'inherit' });
    const exited = new Promise((r) => child.on('exit', r));
    const r3 = await fromFifo;
    await exited;
    assert.equal(r3.diffId, `sha256:${sha(small)}`);
    assert.equal(fs.readFileSync(path.join(dest3, 'x'), 'utf8'), 'y');
  });

  it('a file that changes during the apply is refused (the diff ID would not be of the bytes applied)', async () => {
    const { tar } = await bigTar();
    const f = path.join(tmp, 'in.tar');
    fs.writeFileSync(f, tar);
    const p = applyLayer(fs.createReadStream(f), dest, { files: filesApi, whiteouts: 'overlay' });
    setImmediate(() => fs.appendFileSync(f, Buffer.alloc(1024))); // runs at the apply's first turn
    await assert.rejects(p, /changed/);
  });

  it('a malicious tar file (fs.ReadStream, hashed by the worker from the file) is refused, nothing outside', async () => {
    const { tar } = await bigTar();
    const evil = await buildTar([{ name: '../escape', body: 'evil' }]);
    const f = path.join(tmp, 'in.tar');
    fs.writeFileSync(f, Buffer.concat([tar.subarray(0, tar.length - 1024), evil]));
    await assert.rejects(applyLayer(fs.createReadStream(f), dest, { files: filesApi, whiteouts: 'overlay' }), /climbs above the layer root/);
    assert.equal(fs.existsSync(path.join(tmp, 'escape')), false);
  });

  it('a malicious tar from an fd is refused after the worker took over, and nothing is written outside', async () => {
    const { tar } = await bigTar();
    const evil = await buildTar([{ name: '../escape', body: 'evil' }]);
    // the big tar minus its end-of-archive blocks, then the evil entry
    const joined = Buffer.concat([tar.subarray(0, tar.length - 1024), evil]);
    const f = path.join(tmp, 'in.tar');
    fs.writeFileSync(f, joined);
    const fd = fs.openSync(f, 'r');
    try {
      await assert.rejects(applyLayer({ fd }, dest, { files: filesApi, whiteouts: 'overlay' }), /climbs above the layer root/);
    } finally {
      fs.closeSync(fd);
    }
    assert.equal(fs.existsSync(path.join(tmp, 'escape')), false);
  });
});
