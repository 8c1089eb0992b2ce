// A client that retries everything: on network errors, timeouts, dropped connections and any
// 5xx it sends the very same request again (same precondition, same key, same body), to any
// API process, until it gets a definitive answer.
import { setTimeout as sleep } from 'node:timers/promises';

export interface ClientStats {
  attempts: number;
  networkErrors: number;
  dropped: number;
  /** Retried answers by status: 5xx, and 429. */
  status5xx: Record<number, number>;
}

export interface Answer {
  status: number;
  body: unknown;
  replayed: boolean;
  /** When it arrived (ms since the epoch). */
  at: number;
}

export class RetryingClient {
  readonly stats: ClientStats = { attempts: 0, networkErrors: 0, dropped: 0, status5xx: {} };
  private next = 0;

  constructor(
    private readonly bases: () => string[],
    private readonly apiKey: string,
    private readonly options: { timeoutMs: number; dropRate: number; deadline: () => number; onAnswer?: (status: number) => void },
  ) {}

  async send(method: string, path: string, headers: Record<string, string>, body: unknown): Promise<Answer> {
    for (let attempt = 0; ; attempt++) {
      if (Date.now() > this.options.deadline()) throw new Error(`gave up on ${method} ${path}`);
      const bases = this.bases();
      const base = bases[this.next++ % bases.length] ?? '';
      this.stats.attempts++;
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), this.options.timeoutMs);
      // Now and then the client hangs up right after sending: the server may still commit.
      const drop = Math.random() < this.options.dropRate;
      const dropTimer = drop ? setTimeout(() => controller.abort(), 1 + Math.random() * 15) : undefined;
      try {
        const response = await fetch(base + path, {
          method,
          headers: { authorization: `Bearer ${this.apiKey}`, 'content-type': 'application/json', ...headers },
          body: body === undefined ? null : JSON.stringify(body),
          signal: controller.signal,
        });
        const text = await response.text();
        this.options.onAnswer?.(response.status);
        // A 429 (the service's rate limits, on by default for concurrency) did nothing: retried as a 5xx is.
        if (response.status >= 500 || response.status === 429) {
          this.stats.status5xx[response.status] = (this.stats.status5xx[response.status] ?? 0) + 1;
        } else {
          return { status: response.status, body: text === '' ? undefined : (JSON.parse(text) as unknown), replayed: response.headers.get('idempotent-replayed') === 'true', at: Date.now() };
        }
      } catch {
        if (drop) this.stats.dropped++;
        else this.stats.networkErrors++;
      } finally {
        clearTimeout(timer);
        if (dropTimer) clearTimeout(dropTimer);
      }
      await sleep(Math.min(50 * 2 ** Math.min(attempt, 5), 1_000) * (0.5 + Math.random() / 2));
    }
  }
}
