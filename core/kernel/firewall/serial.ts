// core/kernel/firewall/serial.ts — runs a backend's operations one at a time, so that planning
// against the model and committing to it never interleave across an await.

export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.tail.then(fn, fn);
    this.tail = next.catch(() => undefined);
    return next;
  }
}
