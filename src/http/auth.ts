import type { Context, Middleware } from 'koa';
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import { bearerToken, hashApiKey } from '../tenants/api-keys.ts';
import { findTenantByKeyHash, type Tenant } from '../tenants/repository.ts';
import { DOCS_PATH, DOCS_SCRIPT_PATH } from './docs.ts';
import { METRICS_PATH } from './metrics.ts';
import { ProblemError } from './problems.ts';

/** Paths any client may read without a key. */
export const PUBLIC_PATHS = new Set(['/healthz', '/readyz', METRICS_PATH, DOCS_PATH, DOCS_SCRIPT_PATH, '/openapi.yaml']);
/** Paths that check their own credentials (the admin token). */
const SELF_AUTHENTICATED_PATHS = new Set(['/tenants']);

export interface AuthState {
  tenant: Tenant;
}

/** What the /contexts routes need to know of the caller: the tenant whose contexts it may use. */
export interface TenantState {
  tenant: { readonly id: string };
}

export function unauthorized(detail: string, invalidToken: boolean): ProblemError {
  // RFC 6750 §3: the challenge names the scheme, and the error when a token was sent but is bad.
  const challenge = invalidToken ? 'Bearer realm="api", error="invalid_token"' : 'Bearer realm="api"';
  return new ProblemError('unauthorized', detail, { headers: { 'WWW-Authenticate': challenge } });
}

/** The tenant of `Authorization: Bearer <api key>`; a 401 problem when there is none or it is not valid. */
export function apiKeyAuthentication(db: Kysely<Database>): (ctx: Context) => Promise<Tenant> {
  return async (ctx) => {
    const token = bearerToken(ctx.get('Authorization'));
    if (token === undefined) {
      throw unauthorized('Send the API key as "Authorization: Bearer <key>".', ctx.get('Authorization') !== '');
    }
    const tenant = await findTenantByKeyHash(db, hashApiKey(token));
    if (!tenant) throw unauthorized('The API key is not valid.', true);
    return tenant;
  };
}

/** Resolves `Authorization: Bearer <api key>` to a tenant, or answers 401 before any route runs. */
export function authenticateTenant(db: Kysely<Database>): Middleware<Partial<AuthState>> {
  const authenticate = apiKeyAuthentication(db);
  return async (ctx, next) => {
    if (PUBLIC_PATHS.has(ctx.path) || SELF_AUTHENTICATED_PATHS.has(ctx.path)) return next();
    ctx.state.tenant = await authenticate(ctx);
    return next();
  };
}
