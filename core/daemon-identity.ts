// core/daemon-identity.ts — the daemon's stable id: 64 hex digits kept in <data-root>/daemon-id,
// made at the first start. Several daemons may share one etcd key prefix (the overlay driver's
// case); the records and intents each one makes carry this id, so one daemon's start-up repair
// never rolls back or sweeps another's (core/service/records.ts `owns`).
//
// Why a file in the data root rather than the host name: the data root is what a daemon's local
// state (pinned netns, layers, the embedded store) belongs to; a renamed host keeps its id, and
// two daemons on one host (two data roots) get two. A data root copied to another host copies
// the id too: give the copy a fresh one by deleting the file.

import fs from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError } from './errors.js';
import { newId } from './model/ids.js';

export const DAEMON_ID_FILE = 'daemon-id';

export function loadDaemonId(dataRoot: string): string {
  const file = path.join(dataRoot, DAEMON_ID_FILE);
  let text: string | undefined;
  try {
    text = fs.readFileSync(file, 'utf8').trim();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  if (text !== undefined) {
    if (!/^[0-9a-f]{64}$/.test(text)) throw new InvalidArgumentError(`daemon id ${file}: ${JSON.stringify(text.slice(0, 80))} is not 64 hex digits (delete the file to get a new id)`);
    return text;
  }
  const id = newId();
  // Written whole or not at all: a crash here must not leave an empty id behind.
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, id + '\n', { mode: 0o600 });
  fs.renameSync(tmp, file);
  return id;
}
