/**
 * Writes that only the newest matters for (a run's checkpoint generations): they run one at a
 * time, in order, and at most one waits behind the write in flight. A newer item replaces the
 * waiting one, whose write is skipped, so a disk slower than the run makes its generations holds
 * two of them in memory, not a queue that grows with the run. Every write's failure goes to
 * `failed`; `idle()` resolves once no write runs or waits (the newest pushed is then written).
 */
export interface NewestWrites<T> {
  push(item: T): void;
  idle(): Promise<void>;
}

export function newestWrites<T>(write: (item: T) => Promise<void>, failed: (err: unknown, item: T) => void): NewestWrites<T> {
  let waiting: { item: T } | null = null;
  let chain: Promise<void> = Promise.resolve();
  return {
    push(item: T): void {
      // A link is already queued for the waiting slot: it takes the newest item when it runs.
      if (waiting) {
        waiting.item = item;
        return;
      }
      const slot = { item };
      waiting = slot;
      chain = chain.then(async () => {
        waiting = null;
        try {
          await write(slot.item);
        } catch (err) {
          failed(err, slot.item);
        }
      });
    },
    idle: () => chain,
  };
}
