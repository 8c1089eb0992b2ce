import type { components } from '../../../sdk/schema.js';
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

// The shapes of the admin API's answers, from openapi.yaml (the generated sdk/schema.d.ts): the
// page is typed against the contract the spec test holds the service to. Types only: nothing of
// the SDK reaches the browser.
type Schemas = components['schemas'];
export type Link = Schemas['Link'];
export type OperatorContext = Schemas['OperatorContext'];
export type Delivery = Schemas['WebhookDelivery'];
export type TimelineEntry = Schemas['TimelineEntry'];
export type Timeline = Schemas['ContextTimeline'];
export type Attention = Schemas['Attention'];
export type MinuteSeries = Schemas['MinuteSeries'];
export type AuditLogEntry = Schemas['AuditLogEntry'];
export type AuditLog = Schemas['AuditLog'];
export type OperatorContextList = Schemas['OperatorContextList'];
export type TenantList = Schemas['AdminTenantList'];
