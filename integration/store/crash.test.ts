// integration/store/crash.test.ts — issue 2's acceptance test for the embedded store: a child
// process doing 200 acknowledged writes is killed with SIGKILL at random instants; reopening must
// show every acknowledged write and a consistent database, and the next writer must carry on.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openStore } from '../../core/store/open.js';
import { payloadFor, type CrashRecord } from './crash-writer.js';

const writer = fileURLToPath(new URL('./crash-writer.js', import.meta.url));
const ROUNDS = 8;
const WRITES = 200;

interface Round {
  acked: number[];
  lastAckRevision: number;
  finished: boolean;
  killedAt: string;
}

/**
 * Run one writer and SIGKILL it: `extraMs` after its `afterAcks`-th ack, or `afterReadyMs` after it
 * reported the store open.
 */
function runAndKill(path: string, plan: { afterAcks?: number; extraMs: number; afterReadyMs?: number }): Promise<Round> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = spawn(process.execPath, [writer, path, String(WRITES)], { stdio: ['ignore', 'pipe', 'pipe'] });
    const round: Round = { acked: [], lastAckRevision: 0, finished: false, killedAt: '' };
    let buf = '';
    let stderr = '';
    let killTimer: NodeJS.Timeout | undefined;
    const kill = (why: string) => {
      if (round.killedAt) return;
      round.killedAt = why;
      child.kill('SIGKILL');
    };
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const [kind, a, b] = line.split(' ');
        if (kind === 'ack') {
          round.acked.push(Number(a));
          round.lastAckRevision = Number(b);
          if (plan.afterAcks !== undefined && round.acked.length === plan.afterAcks) {
            const why = `${plan.extraMs} ms after ack #${plan.afterAcks}`;
            if (plan.extraMs === 0) kill(why);
            else killTimer = setTimeout(() => kill(why), plan.extraMs);
          }
        } else if (kind === 'ready' && plan.afterReadyMs !== undefined) {
          const ms = plan.afterReadyMs;
          killTimer = setTimeout(() => kill(`${ms} ms after open`), ms);
        } else if (kind === 'done') round.finished = true;
      }
    });
    child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(killTimer);
      if (signal !== 'SIGKILL' && code !== 0) reject(new Error(`crash-writer exited ${code}: ${stderr}`));
      else resolve(round);
    });
  });
}

describe('embedded store survives kill -9 during writes', function () {
  this.timeout(120_000);
  const dir = mkdtempSync(join(tmpdir(), 'tsd-crash-'));
  const path = join(dir, 'store');
  after(() => rmSync(dir, { recursive: true, force: true }));

  it(`keeps every acknowledged write across ${ROUNDS} SIGKILLs at random instants`, async () => {
    let expectedAtLeast = 0;
    let killedMidway = 0;
    const report: string[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      // Alternate kill triggers: by ack count, and by wall time since the writer opened the store
      // (lands anywhere in a commit, including inside the fdatasync).
      const plan =
        r % 2 === 0
          ? { afterAcks: 1 + Math.floor(Math.random() * (WRITES - 2)), extraMs: Math.floor(Math.random() * 4) }
          : { afterReadyMs: Math.floor(Math.random() * 250), extraMs: 0 };
      const round = await runAndKill(path, plan);
      if (!round.finished && round.acked.length > 0) killedMidway++;

      const store = await openStore({ kind: 'embedded', path });
      try {
        const entries = await store.list<CrashRecord>('w/');
        const counter = await store.get<{ n: number }>('counter');
        const n = counter?.value.n ?? 0;
        const maxAcked = round.acked.length ? Math.max(...round.acked) : expectedAtLeast - 1;

        // 1. Every acknowledged write is there (this round's and all earlier rounds').
        assert.ok(n >= maxAcked + 1, `round ${r}: counter ${n} lost acknowledged write ${maxAcked}`);
        assert.ok(n >= expectedAtLeast, `round ${r}: counter ${n} went back below ${expectedAtLeast}`);
        // 2. At most the one write in flight when killed may have landed beyond the last ack.
        assert.ok(n <= maxAcked + 2, `round ${r}: counter ${n} is ahead of the last ack ${maxAcked} by more than one write`);
        // 3. The two keys of each commit landed together: w/ keys are exactly 0..n-1, intact.
        assert.equal(entries.length, n, `round ${r}: ${entries.length} w/ keys but counter says ${n}`);
        let prevRev = 0;
        entries.forEach((e, i) => {
          assert.equal(e.value.seq, i, `round ${r}: hole before ${e.key}`);
          assert.equal(e.value.payload, payloadFor(i), `round ${r}: ${e.key} payload corrupted`);
          assert.ok(e.revision > prevRev, `round ${r}: ${e.key} revision ${e.revision} not above ${prevRev}`);
          prevRev = e.revision;
        });
        if (n > 0) assert.equal(counter!.revision, prevRev, `round ${r}: counter and last w/ key were not one commit`);
        if (round.acked.length) assert.ok(prevRev >= round.lastAckRevision, `round ${r}: store revision went back`);
        report.push(`round ${r}: killed ${round.killedAt || '(finished first)'}, acks ${round.acked.length}, keys ${n}`);
        expectedAtLeast = n;
      } finally {
        await store.close();
      }
    }
    // The database is still writable after all the crashes.
    const final = await runAndKill(path, { afterReadyMs: 60_000, extraMs: 0 });
    assert.ok(final.finished, 'a last writer runs to completion on the crashed database');
    assert.equal(final.acked.length, WRITES);
    assert.equal(final.acked[0], expectedAtLeast);
    console.log('      ' + report.join('\n      '));
    assert.ok(killedMidway >= 5, `only ${killedMidway} of ${ROUNDS} kills landed during the writes`);
  });
});
