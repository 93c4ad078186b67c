// test/cli/progress.test.ts — docker-style sizes and durations, the bar's shape, and that the
// progress stream passes bytes through untouched and draws only when given a writer.
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { humanDuration, humanSize, progressStream, renderBar } from '../../cli/progress.js';

describe('cli/progress', () => {
  it('humanSize and humanDuration read like docker\'s', () => {
    assert.deepEqual([0, 999, 1000, 4_194_304, 3_145_728 + 123, 2.5e9].map(humanSize), ['0B', '999B', '1kB', '4.19MB', '3.15MB', '2.5GB']);
    assert.deepEqual([500, 1000, 30_000, 90_000, 3_600_000, 72 * 3_600_000].map(humanDuration),
      ['Less than a second', '1 second', '30 seconds', 'About a minute', 'About an hour', '3 days']);
  });

  it('renderBar: a bar with a known total, bytes and rate without one', () => {
    assert.equal(renderBar('Importing', 50, 100, 1000, 10), 'Importing [====>     ] 50B/100B  50B/s');
    assert.equal(renderBar('Importing', 100, 100, 1000, 10), 'Importing [==========] 100B/100B  100B/s');
    assert.equal(renderBar('Exporting', 2_000_000, undefined, 2000), 'Exporting  2MB  1MB/s');
  });

  it('progressStream passes bytes through; draws a final line only with a writer', async () => {
    const data = [Buffer.from('a'.repeat(1000)), Buffer.from('b'.repeat(24))];
    const drawn: string[] = [];
    const out: Buffer[] = [];
    for await (const c of Readable.from(data).pipe(progressStream('Importing', 1024, (s) => drawn.push(s)))) out.push(c as Buffer);
    assert.ok(Buffer.concat(out).equals(Buffer.concat(data)));
    assert.match(drawn.at(-1)!, /^\r\x1b\[KImporting \[=+\] 1.02kB\/1.02kB .*\n$/);
    const silent: Buffer[] = [];
    for await (const c of Readable.from(data).pipe(progressStream('Importing', 1024, undefined))) silent.push(c as Buffer);
    assert.equal(Buffer.concat(silent).length, 1024);
  });
});
