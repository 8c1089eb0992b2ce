// The admin API's JSON: contexts as an operator sees them (with the entity tag of their row and
// links to what may be done now), deliveries, the attention lists. Paths are under /admin.
import { link, type Links } from '../http/hal.ts';
import { rowEntityTag } from '../protocol/operator-preconditions.ts';
import type { Attention, FailingEndpointRow } from './attention.ts';
import { isUnheld, operatorState, type OperatorContextRow } from './contexts.ts';
import type { DeliveryRow } from './timeline.ts';

/** Where the admin API is mounted: /admin in the service; `<prefix>/admin` in a host that mounts it under a prefix. */
export const ADMIN_BASE = '/admin';

export function adminContextPath(tenantId: string, id: string, base = ADMIN_BASE): string {
  return `${base}/tenants/${tenantId}/contexts/${id}`;
}

export function adminDeliveryPath(id: number, base = ADMIN_BASE): string {
  return `${base}/webhook-deliveries/${id}`;
}

const iso = (value: Date | null): string | null => (value === null ? null : value.toISOString());

function actionType(action: unknown): string | null {
  const type = (action as { type?: unknown } | null)?.type;
  return typeof type === 'string' ? type : null;
}

/** The row's tag, with what the clock changed in the representation (see rowEntityTag). */
export function operatorContextTag(row: OperatorContextRow): string {
  const derived: string[] = [];
  if (operatorState(row) === 'expired') derived.push('expired');
  if (row.locked_until !== null && isUnheld(row)) derived.push('free');
  return rowEntityTag(row.row_tag, derived);
}

/** The summary of a context in lists; `detail` adds what it holds (action, result, outputs). */
export function renderOperatorContext(row: OperatorContextRow, detail = false, base = ADMIN_BASE): Record<string, unknown> {
  const self = adminContextPath(row.tenant_id, row.id, base);
  const state = operatorState(row);
  const links: Links = { self: link(self), timeline: link(`${self}/timeline`) };
  if (state === 'parked' && isUnheld(row)) links['retry'] = link(`${self}/retry`, 'POST with If-Match: run the job again now, attempts from zero');
  if (isUnheld(row)) links['reconcile'] = link(`${self}/reconcile`, "POST with If-Match: ask the action's reconcile hook what its pending phase did");
  return {
    tenantId: row.tenant_id,
    tenantName: row.tenant_name,
    id: row.id,
    state,
    type: actionType(row.action),
    version: row.version,
    attempts: row.attempts,
    lastError: row.last_error,
    recoveryPoint: row.recovery_point,
    runAfter: iso(row.run_after),
    lockedBy: row.locked_by,
    lockedUntil: iso(row.locked_until),
    idempotencyKey: row.idempotency_key,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
    expiresAt: row.expires_at.toISOString(),
    entityTag: operatorContextTag(row),
    ...(detail
      ? { action: row.action ?? null, result: row.result ?? null, error: row.error ?? null, responseStatus: row.response_status, phaseOutputs: row.phase_outputs }
      : {}),
    _links: links,
  };
}

export function renderDelivery(row: DeliveryRow, base = ADMIN_BASE): Record<string, unknown> {
  const self = adminDeliveryPath(row.id, base);
  const links: Links = { self: link(self), redeliver: link(`${self}/redeliver`, 'POST with If-Match: send it again now, attempts from zero') };
  if (row.context_id) links['context'] = link(adminContextPath(row.tenant_id, row.context_id, base));
  return {
    id: row.id,
    tenantId: row.tenant_id,
    contextId: row.context_id,
    endpointId: row.endpoint_id,
    url: row.url,
    eventId: row.event_id,
    eventType: row.event_type,
    attempts: row.attempts,
    nextAttemptAt: iso(row.next_attempt_at),
    deliveredAt: iso(row.delivered_at),
    lastError: row.last_error,
    createdAt: row.created_at.toISOString(),
    entityTag: rowEntityTag(row.row_tag),
    _links: links,
  };
}

function renderEndpoint(row: FailingEndpointRow): Record<string, unknown> {
  return { tenantId: row.tenant_id, endpointId: row.endpoint_id, url: row.url, failing: row.failing, oldest: row.oldest.toISOString(), lastError: row.last_error };
}

export function renderAttention(attention: Attention, stuckAfterSeconds: number, base = ADMIN_BASE): Record<string, unknown> {
  return {
    stuckAfterSeconds,
    parked: attention.parked.map((row) => renderOperatorContext(row, false, base)),
    stuck: attention.stuck.map((row) => renderOperatorContext(row, false, base)),
    failingEndpoints: attention.failingEndpoints.map(renderEndpoint),
    failingDeliveries: attention.failingDeliveries.map((row) => renderDelivery(row, base)),
    lastAudit: attention.lastAudit ? { at: attention.lastAudit.at.toISOString(), findings: attention.lastAudit.findings } : null,
    _links: { self: link(`${base}/attention`), audit: link(`${base}/audits`, 'POST: run every action audit now') },
  };
}
