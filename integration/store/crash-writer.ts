// integration/store/crash-writer.ts — child process of crash.test.ts: opens the embedded store at
// argv[2] and makes `count` acknowledged writes, printing "ack <seq> <revision>" after each one
// resolves. Every write is one commit of two keys (w/<seq> and the counter), guarded by CAS, so a
// torn commit would show as a counter that disagrees with the w/ keys.
import { openStore } from '../../core/store/open.js';

export interface CrashRecord {
  seq: number;
  payload: string;
}

/** Deterministic payload per sequence number, 100 B … 12 KB (multi-page commits). */
export function payloadFor(seq: number): string {
  const size = 100 + ((seq * 7919) % 12_000);
  return `${seq}:`.padEnd(size, String.fromCharCode(97 + (seq % 26)));
}

async function main(): Promise<void> {
  const [path, countArg] = process.argv.slice(2);
  if (!path) throw new Error('usage: crash-writer <dir> [count]');
  const count = Number(countArg ?? 200);
  const store = await openStore({ kind: 'embedded', path });
  let counter = await store.get<{ n: number }>('counter');
  let n = counter?.value.n ?? 0;
  let rev = counter?.revision ?? 0;
  process.stdout.write(`ready ${n}\n`);
  for (let i = 0; i < count; i++, n++) {
    const record: CrashRecord = { seq: n, payload: payloadFor(n) };
    rev = await store.commit(
      [{ key: 'counter', revision: rev }, { key: `w/${String(n).padStart(6, '0')}`, revision: 0 }],
      [
        { op: 'put', key: `w/${String(n).padStart(6, '0')}`, value: record },
        { op: 'put', key: 'counter', value: { n: n + 1 } },
      ],
    );
    // Synchronous on pipes (Node writes to pipes synchronously on Linux): once this returns the
    // parent can read the ack even if we are killed right after.
    process.stdout.write(`ack ${n} ${rev}\n`);
  }
  counter = await store.get<{ n: number }>('counter');
  process.stdout.write(`done ${counter?.value.n}\n`);
  await store.close();
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  main().catch((e: unknown) => {
    process.stderr.write(`crash-writer: ${e instanceof Error ? e.stack : String(e)}\n`);
    process.exit(1);
  });
}
