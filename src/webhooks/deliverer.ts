// Sends the rows of the outbox (webhook_deliveries) at least once.
//
// A round claims due rows in one statement (SELECT … FOR UPDATE SKIP LOCKED inside an UPDATE
// that sets `locked_until`; the statement is its own transaction, so the claim commits before
// any request goes out), POSTs them concurrently, and records each outcome. Two deliverers never
// send the same row at the same time: SKIP LOCKED keeps them apart while they claim, the lease
// afterwards. A deliverer that dies mid-round leaves its rows locked until the lease runs out;
// then another one sends them again — at least once, never "exactly once": receivers
// de-duplicate by `webhook-id`.
import { SpanStatusCode, type Span } from '@opentelemetry/api';
import type { Logger } from 'pino';
import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import { ATTR, keyHash } from '../telemetry/attributes.ts';
import { CLIENT, inSpan } from '../telemetry/tracer.ts';
import { signWebhook } from './signing.ts';

/**
 * How long a claim keeps other deliverers away from a row. It must outlast a round (the rows
 * are sent concurrently, each bounded by the request timeout), so the effective lease is at
 * least twice the timeout; short enough that a crashed deliverer's rows go out again soon.
 */
export const WEBHOOK_LEASE_MS = 60_000;
/** Request timeout per attempt; the Standard Webhooks spec recommends 15 to 30 s. */
export const DEFAULT_WEBHOOK_TIMEOUT_MS = 15_000;
/** Rows claimed (and sent concurrently) per round. */
export const DEFAULT_WEBHOOK_BATCH = 20;
/** Sleep between rounds that found nothing to send. */
export const DEFAULT_WEBHOOK_POLL_MS = 1_000;
/**
 * Retry schedule: after the n-th failed attempt the next one is due after a delay drawn
 * uniformly from [d/2, d], where d = min(1 s × 2^(n−1), 1 h): 1 s, 2 s, 4 s, … 2048 s (n = 12),
 * then 1 h. After MAX_WEBHOOK_ATTEMPTS failed attempts (about 4 to 8 hours) the row is no longer
 * retried: it stays, undelivered, with its attempts, its last error and next_attempt_at =
 * 'infinity', so it can be inspected or rescheduled by hand.
 */
export const WEBHOOK_BACKOFF_BASE_MS = 1_000;
export const WEBHOOK_BACKOFF_CAP_MS = 3_600_000;
export const MAX_WEBHOOK_ATTEMPTS = 20;
/** last_error keeps this many characters. */
const MAX_ERROR_LENGTH = 500;

/** Delay before the attempt after `failedAttempts` failures (≥ 1), with "equal jitter". */
export function webhookBackoffMs(failedAttempts: number, random: () => number = Math.random): number {
  const exponent = Math.max(0, Math.min(failedAttempts - 1, 30));
  const ceiling = Math.min(WEBHOOK_BACKOFF_CAP_MS, WEBHOOK_BACKOFF_BASE_MS * 2 ** exponent);
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

export interface DeliverOptions {
  /** Most rows claimed and sent in this round (default 20). */
  limit?: number;
  /** Timeout of each request in milliseconds (default 15 000). */
  timeoutMs?: number;
  /** Names this deliverer in log lines. */
  workerId?: string;
  logger?: Logger;
  /**
   * Shutdown: requests still in flight are aborted and their rows released for the next
   * deliverer without counting an attempt.
   */
  signal?: AbortSignal;
  /** Called for every failed attempt (a metric counts them); after the outcome is recorded. */
  onFailure?: (failure: { delivery: number; attempt: number }) => void;
}

export interface DeliveryRound {
  delivered: number;
  failed: number;
}

interface ClaimedDelivery {
  id: number;
  event_id: string;
  payload: string;
  attempts: number;
  /** The lease as Postgres wrote it (text keeps the microseconds): the fencing token of the claim. */
  lease: string;
  url: string;
  secret: string;
}

async function claimDueDeliveries(db: Kysely<Database>, limit: number, leaseMs: number): Promise<ClaimedDelivery[]> {
  const { rows } = await sql<ClaimedDelivery>`
    WITH due AS (
      SELECT id
        FROM webhook_deliveries
       WHERE delivered_at IS NULL
         AND next_attempt_at <= now()
         AND (locked_until IS NULL OR locked_until < now())
         AND attempts < ${MAX_WEBHOOK_ATTEMPTS}
       ORDER BY next_attempt_at
       LIMIT ${limit}
         FOR UPDATE SKIP LOCKED
    )
    UPDATE webhook_deliveries AS d
       SET locked_until = now() + make_interval(secs => ${leaseMs / 1000})
      FROM due, webhook_endpoints AS e
     WHERE d.id = due.id AND e.tenant_id = d.tenant_id AND e.id = d.endpoint_id
 RETURNING d.id, d.event_id, d.payload, d.attempts, d.locked_until::text AS lease, e.url, e.secret`.execute(db);
  return rows;
}

type Outcome = { kind: 'delivered' } | { kind: 'failed'; error: string } | { kind: 'aborted' };

function describeFailure(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  if (error.name === 'TimeoutError') return 'timeout: no response in time';
  // undici reports network errors as "fetch failed" with the system error as the cause.
  const cause = (error as { cause?: unknown }).cause;
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code;
    return `${error.message}: ${typeof code === 'string' ? `${code} ` : ''}${cause.message}`;
  }
  return error.message;
}

/**
 * A delivery's CLIENT span: the receiver's host and port (not the URL, whose query may hold a
 * token), the event id's hash (the id receivers de-duplicate by), the attempt and the status.
 * Never the secret, the signature or the payload.
 */
function describeDelivery(span: Span, delivery: ClaimedDelivery, outcome: Outcome, status: number | undefined): void {
  let server: { address: string; port: number } | undefined;
  try {
    const url = new URL(delivery.url);
    server = { address: url.hostname, port: Number(url.port || (url.protocol === 'https:' ? 443 : 80)) };
  } catch {
    server = undefined;
  }
  span.setAttributes({
    [ATTR.httpMethod]: 'POST', [ATTR.keyHash]: keyHash(delivery.event_id), [ATTR.webhookAttempt]: delivery.attempts + 1,
    [ATTR.outcome]: outcome.kind,
    ...(server ? { [ATTR.serverAddress]: server.address, [ATTR.serverPort]: server.port } : {}),
    ...(status === undefined ? {} : { [ATTR.httpStatus]: status }),
  });
  if (outcome.kind === 'failed') span.setStatus({ code: SpanStatusCode.ERROR });
}

/** One attempt at one delivery, in a CLIENT span ("POST webhook"). */
function send(delivery: ClaimedDelivery, timeoutMs: number, shutdown: AbortSignal | undefined): Promise<Outcome> {
  return inSpan('POST webhook', async (span) => {
    const { outcome, status } = await post(delivery, timeoutMs, shutdown);
    if (span.isRecording()) describeDelivery(span, delivery, outcome, status);
    return outcome;
  }, CLIENT);
}

async function post(delivery: ClaimedDelivery, timeoutMs: number, shutdown: AbortSignal | undefined): Promise<{ outcome: Outcome; status?: number }> {
  const timestamp = Math.floor(Date.now() / 1000);
  const timeout = AbortSignal.timeout(timeoutMs);
  try {
    const response = await fetch(delivery.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'user-agent': 'idempotence-service-webhooks',
        'webhook-id': delivery.event_id,
        'webhook-timestamp': String(timestamp),
        'webhook-signature': signWebhook(delivery.secret, delivery.event_id, timestamp, delivery.payload),
      },
      body: delivery.payload,
      // 3xx is a failure (the spec advises against following redirects): update the URL instead.
      redirect: 'manual',
      signal: shutdown ? AbortSignal.any([timeout, shutdown]) : timeout,
    });
    await response.body?.cancel().catch(() => undefined); // the body is not needed; free the socket
    const { status } = response;
    if (status >= 200 && status < 300) return { outcome: { kind: 'delivered' }, status };
    return { outcome: { kind: 'failed', error: `HTTP ${status}${response.statusText ? ` ${response.statusText}` : ''}` }, status };
  } catch (error) {
    if (shutdown?.aborted && !timeout.aborted) return { outcome: { kind: 'aborted' } };
    return { outcome: { kind: 'failed', error: describeFailure(error) } };
  }
}

/** Records an outcome, only while the claim is still this round's (the lease is the token). */
async function record(db: Kysely<Database>, delivery: ClaimedDelivery, outcome: Outcome): Promise<void> {
  const claimed = sql`id = ${delivery.id} AND locked_until = ${delivery.lease}::timestamptz`;
  if (outcome.kind === 'aborted') {
    await sql`UPDATE webhook_deliveries SET locked_until = NULL WHERE ${claimed}`.execute(db);
    return;
  }
  if (outcome.kind === 'delivered') {
    await sql`
      UPDATE webhook_deliveries
         SET delivered_at = now(), attempts = attempts + 1, locked_until = NULL, last_error = NULL
       WHERE ${claimed}`.execute(db);
    return;
  }
  const attempts = delivery.attempts + 1;
  const givingUp = attempts >= MAX_WEBHOOK_ATTEMPTS;
  const error = (givingUp ? `gave up after ${attempts} attempts; last: ${outcome.error}` : outcome.error)
    .replaceAll('\u0000', '')
    .slice(0, MAX_ERROR_LENGTH);
  const next = givingUp ? sql`'infinity'::timestamptz` : sql`now() + make_interval(secs => ${webhookBackoffMs(attempts) / 1000})`;
  await sql`
    UPDATE webhook_deliveries
       SET attempts = attempts + 1, last_error = ${error}, locked_until = NULL, next_attempt_at = ${next}
     WHERE ${claimed}`.execute(db);
}

/** One round: claims the rows that are due, sends them concurrently, records every outcome. */
export async function deliverDueWebhooks(db: Kysely<Database>, options: DeliverOptions = {}): Promise<DeliveryRound> {
  const { limit = DEFAULT_WEBHOOK_BATCH, timeoutMs = DEFAULT_WEBHOOK_TIMEOUT_MS, workerId, logger, signal, onFailure } = options;
  if (!Number.isInteger(limit) || limit < 1) throw new Error(`limit must be a positive integer, not ${limit}`);
  if (!(timeoutMs > 0)) throw new Error(`timeoutMs must be positive, not ${timeoutMs}`);
  if (signal?.aborted) return { delivered: 0, failed: 0 };

  const claimed = await claimDueDeliveries(db, limit, Math.max(WEBHOOK_LEASE_MS, 2 * timeoutMs));
  const round: DeliveryRound = { delivered: 0, failed: 0 };
  await Promise.all(
    claimed.map(async (delivery) => {
      const outcome = await send(delivery, timeoutMs, signal);
      await record(db, delivery, outcome);
      if (outcome.kind === 'delivered') round.delivered++;
      if (outcome.kind === 'failed') {
        round.failed++;
        logger?.warn({ workerId, delivery: delivery.id, event: delivery.event_id, attempt: delivery.attempts + 1, error: outcome.error }, 'webhook delivery failed');
        onFailure?.({ delivery: delivery.id, attempt: delivery.attempts + 1 });
      }
    }),
  );
  if (claimed.length > 0) logger?.debug({ workerId, ...round }, 'webhook round');
  return round;
}

export interface RunDelivererOptions extends Omit<DeliverOptions, 'signal'> {
  /** Stops the loop; requests in flight are aborted and their rows released. */
  signal: AbortSignal;
  /** Sleep between rounds that found nothing (or failed to reach the database); default 1000. */
  pollMs?: number;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/** Delivers rounds until the signal aborts; resolves once the current round has been recorded. */
export async function runWebhookDeliverer(db: Kysely<Database>, options: RunDelivererOptions): Promise<void> {
  const { signal, pollMs = DEFAULT_WEBHOOK_POLL_MS, ...round } = options;
  while (!signal.aborted) {
    let busy = false;
    try {
      const result = await deliverDueWebhooks(db, { ...round, signal });
      busy = result.delivered + result.failed > 0;
    } catch (error) {
      // The database is away, most likely: try again after a pause rather than exit.
      options.logger?.error({ err: error, workerId: options.workerId }, 'webhook round failed');
    }
    if (!busy) await sleep(pollMs, signal);
  }
}
