// The operations journal: a context's timeline (context_events) and the per-minute request
// counts (request_outcome_counts), written in batches. A request or a phase only appends to an
// in-memory buffer; every `flushMs` (or at `batchSize` events) one statement writes the batch and
// adds its counts. The journal is for people, not for correctness: the contexts and jobs decide
// everything, so a journal write never joins a request's transaction, never delays its answer
// and never fails it. The price, said in docs/operations.md: a process that dies loses its last
// batch (at most `flushMs` of events), and a full buffer (the database unreachable for long)
// drops events, counted in `dropped`.
import { sql, type Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../db/schema.ts';

export type JournalKind = 'request' | 'phase' | 'operator';

export interface JournalEvent {
  tenantId: string;
  contextId: string;
  at: Date;
  kind: JournalKind;
  outcome: string;
  detail: Record<string, unknown>;
}

export interface JournalOptions {
  db: Kysely<Database>;
  logger: Logger;
  /** Longest an event waits in memory (default 250 ms). */
  flushMs?: number;
  /** Events that start a write at once (default 500). */
  batchSize?: number;
  /** Events held while the database does not take them; more are dropped (default 20 000). */
  maxBuffered?: number;
}

const MINUTE_MS = 60_000;

/** Request counts of a batch by (minute, tenant, outcome), in key order: concurrent upserts take their row locks in one order. */
export function minuteCounts(events: readonly JournalEvent[]): { minute: Date; tenantId: string; outcome: string; count: number }[] {
  const counts = new Map<string, { minute: Date; tenantId: string; outcome: string; count: number }>();
  for (const event of events) {
    if (event.kind !== 'request') continue;
    const minute = new Date(Math.floor(event.at.getTime() / MINUTE_MS) * MINUTE_MS);
    const key = `${minute.toISOString()} ${event.tenantId} ${event.outcome}`;
    const entry = counts.get(key);
    if (entry) entry.count++;
    else counts.set(key, { minute, tenantId: event.tenantId, outcome: event.outcome, count: 1 });
  }
  return [...counts.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, entry]) => entry);
}

export class OperationsJournal {
  private buffer: JournalEvent[] = [];
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();
  private closed = false;
  /** Events given up on: the buffer was full, or a batch could not be written. */
  dropped = 0;
  private readonly flushMs: number;
  private readonly batchSize: number;
  private readonly maxBuffered: number;

  constructor(private readonly options: JournalOptions) {
    this.flushMs = options.flushMs ?? 250;
    this.batchSize = options.batchSize ?? 500;
    this.maxBuffered = options.maxBuffered ?? 20_000;
  }

  record(event: JournalEvent): void {
    if (this.closed) return;
    if (this.buffer.length >= this.maxBuffered) {
      this.dropped++;
      return;
    }
    this.buffer.push(event);
    if (this.buffer.length >= this.batchSize) void this.flush();
    else if (!this.timer) {
      this.timer = setTimeout(() => void this.flush(), this.flushMs);
      this.timer.unref();
    }
  }

  /** Writes what is buffered; resolves when it (and any write before it) is done. Never rejects. */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.buffer;
    this.buffer = [];
    if (batch.length > 0) this.writing = this.writing.then(() => this.write(batch));
    return this.writing;
  }

  /** Flushes and takes no more events (shutdown). */
  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
  }

  private async write(batch: JournalEvent[]): Promise<void> {
    const counts = minuteCounts(batch);
    try {
      await sql`
        WITH events AS (
          INSERT INTO context_events (tenant_id, context_id, at, kind, outcome, detail)
          SELECT * FROM unnest(${batch.map((e) => e.tenantId)}::uuid[], ${batch.map((e) => e.contextId)}::uuid[],
                               ${batch.map((e) => e.at.toISOString())}::timestamptz[], ${batch.map((e) => e.kind)}::text[],
                               ${batch.map((e) => e.outcome.slice(0, 64))}::text[], ${batch.map((e) => JSON.stringify(e.detail))}::jsonb[])
        )
        INSERT INTO request_outcome_counts (minute, tenant_id, outcome, count)
        SELECT * FROM unnest(${counts.map((c) => c.minute.toISOString())}::timestamptz[], ${counts.map((c) => c.tenantId)}::uuid[],
                             ${counts.map((c) => c.outcome.slice(0, 64))}::text[], ${counts.map((c) => c.count)}::bigint[])
        ON CONFLICT (minute, tenant_id, outcome) DO UPDATE SET count = request_outcome_counts.count + EXCLUDED.count`.execute(this.options.db);
    } catch (error) {
      this.dropped += batch.length;
      this.options.logger.warn({ err: error, events: batch.length }, 'operations journal: a batch of timeline events could not be written and is dropped');
    }
  }
}
