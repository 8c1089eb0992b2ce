// Per-key counting semaphores: at most `limit` holders per key (a tenant, the administrator),
// and a line, first come first served, for a bounded time. State is this process's: the
// database pool it protects is this process's too.

interface Waiter {
  readonly grant: (granted: boolean) => void;
  timer: NodeJS.Timeout | undefined;
}

export class ConcurrencySlots {
  private readonly held = new Map<string, number>();
  private readonly lines = new Map<string, Waiter[]>();

  constructor(readonly limit: number) {
    if (!Number.isSafeInteger(limit) || limit < 1) throw new TypeError(`a concurrency limit must be a positive integer (got ${limit})`);
  }

  /** Slots of `key` held now. */
  inUse(key: string): number {
    return this.held.get(key) ?? 0;
  }

  /**
   * Takes one of `key`'s slots: at once when one is free, else after waiting in line for at most
   * `waitMs` (Infinity: until one frees). False when none freed in time; the caller holds nothing then.
   */
  acquire(key: string, waitMs: number): boolean | Promise<boolean> {
    const held = this.held.get(key) ?? 0;
    const line = this.lines.get(key);
    // A newcomer does not overtake the line: a slot freed while others wait is already theirs.
    if (held < this.limit && (line === undefined || line.length === 0)) {
      this.held.set(key, held + 1);
      return true;
    }
    if (waitMs <= 0) return false;
    return new Promise<boolean>((resolve) => {
      const waiter: Waiter = { grant: resolve, timer: undefined };
      const waiting = line ?? [];
      if (line === undefined) this.lines.set(key, waiting);
      waiting.push(waiter);
      if (Number.isFinite(waitMs)) {
        waiter.timer = setTimeout(() => {
          const index = waiting.indexOf(waiter);
          if (index >= 0) waiting.splice(index, 1);
          if (waiting.length === 0) this.lines.delete(key);
          resolve(false);
        }, waitMs);
      }
    });
  }

  /** Gives one of `key`'s slots back: to the first in line, if anyone waits, else to the pool of free ones. */
  release(key: string): void {
    const line = this.lines.get(key);
    const next = line?.shift();
    if (line !== undefined && line.length === 0) this.lines.delete(key);
    if (next) {
      clearTimeout(next.timer);
      next.grant(true); // the slot passes on: the count of holders stays
      return;
    }
    const held = (this.held.get(key) ?? 0) - 1;
    if (held > 0) this.held.set(key, held);
    else this.held.delete(key);
  }
}
