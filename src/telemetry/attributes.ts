// The names of the attributes the engine's spans carry (docs/tracing.md has the table), and the
// one way a key appears in them: hashed. Nothing secret is ever an attribute — no API key, no
// Authorization, no webhook secret, no raw Idempotency-Key or derived key, no body, no card source.
import { createHash } from 'node:crypto';

export const ATTR = {
  // OpenTelemetry's HTTP semantic conventions (stable).
  httpMethod: 'http.request.method',
  httpRoute: 'http.route',
  httpStatus: 'http.response.status_code',
  urlTemplate: 'url.template',
  serverAddress: 'server.address',
  serverPort: 'server.port',
  errorType: 'error.type',
  // The engine's own.
  tenant: 'idempotence.tenant',
  context: 'idempotence.context',
  replayed: 'idempotence.replayed',
  decision: 'idempotence.decision',
  actionType: 'idempotence.action.type',
  outcome: 'idempotence.outcome',
  state: 'idempotence.state',
  attempts: 'idempotence.transaction.attempts',
  retried: 'idempotence.transaction.retried',
  jobAttempt: 'idempotence.job.attempt',
  jobMode: 'idempotence.job.mode',
  jobResult: 'idempotence.job.result',
  worker: 'idempotence.worker',
  phase: 'idempotence.phase.name',
  phaseKind: 'idempotence.phase.kind',
  phaseOutcome: 'idempotence.phase.outcome',
  recoveryPoint: 'idempotence.recovery_point',
  keyHash: 'idempotence.key_hash',
  webhookAttempt: 'idempotence.webhook.attempt',
} as const;

/** What a span says of a key: the first 16 hex digits of its SHA-256, enough to match two spans, useless to replay. */
export function keyHash(key: string): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 16);
}
