// The console's charts: requests per minute by outcome (request_outcome_counts, added by the
// journal) and contexts by state (context_state_counts, sampled each minute by a worker, see
// sampler.ts). Both come back as one column per minute, zeros filled in, ready to draw.
import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';

export interface MinuteSeries {
  /** The first instant of each minute, oldest first. */
  minutes: string[];
  /** One count per minute for each outcome (or state) seen in the window. */
  series: Record<string, number[]>;
}

const MINUTE_MS = 60_000;
export const MAX_CHART_MINUTES = 7 * 24 * 60;

/** Rows of (minute, name, count) as columns over the `minutes` minutes up to `now`. */
export function toMinuteSeries(rows: readonly { minute: Date; name: string; count: number }[], minutes: number, now: Date): MinuteSeries {
  const last = Math.floor(now.getTime() / MINUTE_MS) * MINUTE_MS;
  const first = last - (minutes - 1) * MINUTE_MS;
  const axis = Array.from({ length: minutes }, (_, index) => first + index * MINUTE_MS);
  const series: Record<string, number[]> = {};
  for (const row of rows) {
    const index = (row.minute.getTime() - first) / MINUTE_MS;
    if (index < 0 || index >= minutes) continue;
    const column = (series[row.name] ??= new Array<number>(minutes).fill(0));
    column[index] = (column[index] ?? 0) + Number(row.count);
  }
  return { minutes: axis.map((at) => new Date(at).toISOString()), series };
}

async function perMinute(db: Kysely<Database>, table: 'request_outcome_counts' | 'context_state_counts', minutes: number, tenantId: string | undefined) {
  const name = table === 'request_outcome_counts' ? sql.ref('outcome') : sql.ref('state');
  const tenant = tenantId === undefined ? sql`` : sql`AND tenant_id = ${tenantId}`;
  const { rows } = await sql<{ minute: Date; name: string; count: number; now: Date }>`
    SELECT minute, ${name} AS name, sum(count)::bigint AS count, now() AS now FROM ${sql.table(table)}
     WHERE minute > now() - make_interval(mins => ${minutes}) ${tenant}
     GROUP BY minute, ${name}`.execute(db);
  const now = rows[0]?.now ?? new Date();
  return { rows, now };
}

export async function requestOutcomesPerMinute(db: Kysely<Database>, minutes: number, tenantId?: string): Promise<MinuteSeries> {
  const { rows, now } = await perMinute(db, 'request_outcome_counts', minutes, tenantId);
  return toMinuteSeries(rows, minutes, now);
}

/**
 * Contexts by state per minute. A minute without a sample (no worker ran) is a gap, not zero:
 * its columns stay 0 in every series, and `sampled` says which minutes have one.
 */
export async function contextStatesPerMinute(db: Kysely<Database>, minutes: number, tenantId?: string): Promise<MinuteSeries & { sampled: boolean[] }> {
  const { rows, now } = await perMinute(db, 'context_state_counts', minutes, tenantId);
  const result = toMinuteSeries(rows, minutes, now);
  const seen = new Set(rows.map((row) => row.minute.toISOString()));
  return { ...result, sampled: result.minutes.map((minute) => seen.has(minute)) };
}
