// core/kernel/pidfd-worker.ts — the one thread of a PidfdWatch (pidfd.ts): blocks in epoll_wait
// over the watched pidfds and posts the tokens of the processes that exited. It never opens,
// registers or closes an fd; the owning thread does. Ends when the stop flag is set (close()
// also signals the eventfd so the wait returns at once).
import { parentPort, workerData } from 'node:worker_threads';
import { WAIT_MS, eventBuffer, waitTokens, type PidfdWatchData } from './pidfd.js';

const d = workerData as PidfdWatchData;
const ctl = new Int32Array(d.ctl);
const events = eventBuffer();
while (Atomics.load(ctl, 0) === 0) {
  const tokens = waitTokens(d.ep, d.wakeFd, events, WAIT_MS);
  if (tokens.length) parentPort!.postMessage(tokens);
}
