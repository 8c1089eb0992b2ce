// The console's only way to the service: the admin API, with the admin token the operator signed
// in with (kept for this tab only, in sessionStorage). Problems (RFC 9457) become ApiError.

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly problem: Problem | undefined,
    /** The current entity tag, sent with a 412. */
    readonly etag: string | null,
  ) {
    super(problem?.detail ?? problem?.title ?? `HTTP ${status}`);
  }
}

/** The admin API, beside the page: /admin for /console, /ops/admin for a host's /ops/console. */
export const ADMIN = `${location.pathname.replace(/\/console\/?$/, '')}/admin`;

const TOKEN_KEY = 'idempotence-admin-token';
const OPERATOR_KEY = 'idempotence-operator';

export function savedToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function saveToken(token: string | null): void {
  if (token === null) sessionStorage.removeItem(TOKEN_KEY);
  else sessionStorage.setItem(TOKEN_KEY, token);
}

/** The name the operator acts under in the audit log (the admin token itself is shared). */
export function operatorName(): string {
  return localStorage.getItem(OPERATOR_KEY) ?? '';
}

export function saveOperatorName(name: string): void {
  localStorage.setItem(OPERATOR_KEY, name);
}

async function call(method: string, path: string, headers: Record<string, string> = {}, body?: unknown): Promise<Response> {
  const response = await fetch(path, {
    method,
    headers: {
      Accept: 'application/json',
      Authorization: `Bearer ${savedToken() ?? ''}`,
      ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
      ...headers,
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    cache: 'no-store',
  });
  if (!response.ok) {
    const problem = (await response.json().catch(() => undefined)) as Problem | undefined;
    throw new ApiError(response.status, problem, response.headers.get('ETag'));
  }
  return response;
}

export async function getJson<T>(path: string): Promise<T> {
  return (await (await call('GET', path)).json()) as T;
}

/** An operator action: conditional on the entity tag the page showed (412 when it is stale). */
export async function act<T>(path: string, ifMatch: string, reason: string): Promise<T> {
  const operator = operatorName().trim();
  const body = { ...(operator ? { operator: operator.slice(0, 100) } : {}), ...(reason.trim() ? { reason: reason.trim().slice(0, 500) } : {}) };
  return (await (await call('POST', path, { 'If-Match': ifMatch }, body)).json()) as T;
}

export async function runAudit<T>(reason: string): Promise<T> {
  const operator = operatorName().trim();
  return (await (await call('POST', `${ADMIN}/audits`, {}, { ...(operator ? { operator } : {}), ...(reason ? { reason } : {}) })).json()) as T;
}

export interface Link {
  href: string;
  title?: string;
}

export interface OperatorContext {
  tenantId: string;
  tenantName: string;
  id: string;
  state: string;
  type: string | null;
  version: number;
  attempts: number;
  lastError: string | null;
  recoveryPoint: string | null;
  runAfter: string | null;
  lockedBy: string | null;
  lockedUntil: string | null;
  idempotencyKey: string | null;
  createdAt: string;
  updatedAt: string;
  expiresAt: string;
  entityTag: string;
  action?: unknown;
  result?: unknown;
  error?: unknown;
  phaseOutputs?: Record<string, unknown>;
  _links: Record<string, Link | undefined>;
}

export interface Delivery {
  id: number;
  tenantId: string;
  contextId: string | null;
  url: string;
  eventType: string;
  attempts: number;
  nextAttemptAt: string | null;
  deliveredAt: string | null;
  lastError: string | null;
  createdAt: string;
  entityTag: string;
  _links: Record<string, Link | undefined>;
}

export interface TimelineEntry {
  at: string;
  kind: string;
  outcome: string;
  detail: Record<string, unknown>;
}

export interface Timeline {
  context: OperatorContext;
  entries: TimelineEntry[];
  deliveries: Delivery[];
}

export interface Attention {
  stuckAfterSeconds: number;
  parked: OperatorContext[];
  stuck: OperatorContext[];
  failingEndpoints: { tenantId: string; endpointId: string; url: string; failing: number; oldest: string; lastError: string | null }[];
  failingDeliveries: Delivery[];
  lastAudit: { at: string; findings: Record<string, unknown>[] } | null;
}

export interface MinuteSeries {
  minutes: string[];
  series: Record<string, number[]>;
  sampled?: boolean[];
}

export interface AuditLogEntry {
  id: number;
  at: string;
  actor: string;
  action: string;
  tenantId: string | null;
  target: string;
  ifMatch: string | null;
  outcome: string;
  detail: Record<string, unknown>;
}
