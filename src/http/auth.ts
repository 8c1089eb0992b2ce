import type { Context, Middleware } from 'koa';
import type { Kysely } from 'kysely';
import { LRUCache } from 'lru-cache';
import type { Database } from '../db/schema.ts';
import { bearerToken, hashApiKey } from '../tenants/api-keys.ts';
import { findTenantByKeyHash, type Tenant } from '../tenants/repository.ts';
import { DOCS_PATH, DOCS_SCRIPT_PATH } from './docs.ts';
import { METRICS_PATH } from './metrics.ts';
import { ProblemError } from './problems.ts';
import type { RequestLimits, SlotYield } from './rate-limits.ts';

/** Paths any client may read without a key. */
export const PUBLIC_PATHS = new Set(['/healthz', '/readyz', METRICS_PATH, DOCS_PATH, DOCS_SCRIPT_PATH, '/openapi.yaml']);
/** Paths that check their own credentials (the admin token). */
const SELF_AUTHENTICATED_PATHS = new Set(['/tenants']);
/** Under these the admin API checks the admin token, and the console's page and scripts hold no data. */
const SELF_AUTHENTICATED_PREFIXES = ['/admin/', '/console/'];

function authenticatesItself(path: string): boolean {
  return PUBLIC_PATHS.has(path) || SELF_AUTHENTICATED_PATHS.has(path) || path === '/console' || SELF_AUTHENTICATED_PREFIXES.some((prefix) => path.startsWith(prefix));
}

export interface AuthState {
  tenant: Tenant;
}

/** What the /contexts routes need to know of the caller: the tenant whose contexts it may use. */
export interface TenantState {
  tenant: { readonly id: string };
  /** Present under a concurrency limit: a long-poll hands its slot back while it waits (src/http/rate-limits.ts). */
  yieldSlot?: SlotYield;
}

export const BEARER_CHALLENGE = 'Bearer realm="api"';

/** A 401; `challenge` is the WWW-Authenticate value (RFC 9110 §11.6.1), none when null. */
export function unauthorized(detail: string, invalidToken: boolean, challenge: string | null = BEARER_CHALLENGE): ProblemError {
  // RFC 6750 §3: a Bearer challenge names the error when a token was sent but is bad.
  const value = challenge === BEARER_CHALLENGE && invalidToken ? `${BEARER_CHALLENGE}, error="invalid_token"` : challenge;
  return new ProblemError('unauthorized', detail, value === null ? {} : { headers: { 'WWW-Authenticate': value } });
}

/** How long a process trusts a key it has looked up, unless configured (AUTH_CACHE_TTL_SECONDS). */
export const DEFAULT_AUTH_CACHE_TTL_SECONDS = 5;
const AUTH_CACHE_ENTRIES = 10_000;

/**
 * The tenant of `Authorization: Bearer <api key>`; a 401 problem when there is none or it is not
 * valid. A key found is remembered for `cacheTtlSeconds` (0: never), which saves a database
 * round trip on nearly every request (a third of a 304's Postgres work, see bench/). Only valid
 * keys are kept, by their hash, so random keys cannot evict anything but each other's misses.
 * The price: a key replaced in the database keeps working for up to that long in a process
 * that used it just before.
 */
export function apiKeyAuthentication(
  db: Kysely<Database>,
  cacheTtlSeconds = DEFAULT_AUTH_CACHE_TTL_SECONDS,
  limits?: RequestLimits,
): (ctx: Context) => Promise<Tenant> {
  const known = cacheTtlSeconds > 0 ? new LRUCache<string, Tenant>({ max: AUTH_CACHE_ENTRIES, ttl: cacheTtlSeconds * 1000 }) : undefined;
  return async (ctx) => {
    const authorization = ctx.get('Authorization');
    const token = bearerToken(authorization);
    if (token === undefined) {
      // No credentials at all cost nothing to refuse and guess nothing: only a header that was
      // sent and is wrong counts as a failed authentication.
      if (authorization !== '' && limits) {
        await limits.refuseAfterFailures(ctx);
        await limits.countFailure(ctx);
      }
      throw unauthorized('Send the API key as "Authorization: Bearer <key>".', authorization !== '');
    }
    const hash = hashApiKey(token);
    const cacheKey = hash.toString('base64');
    const cached = known?.get(cacheKey);
    if (cached) return cached;
    await limits?.refuseAfterFailures(ctx, cacheKey);
    const tenant = await findTenantByKeyHash(db, hash);
    if (!tenant) {
      await limits?.countFailure(ctx);
      throw unauthorized('The API key is not valid.', true);
    }
    known?.set(cacheKey, tenant);
    limits?.rememberValid(cacheKey);
    return tenant;
  };
}

/**
 * Resolves `Authorization: Bearer <api key>` to a tenant, or answers 401 before any route runs;
 * with `limits`, also 429 for a tenant over its limits or an address with too many failures.
 */
export function authenticateTenant(db: Kysely<Database>, cacheTtlSeconds?: number, limits?: RequestLimits): Middleware<Partial<AuthState>> {
  const authenticate = apiKeyAuthentication(db, cacheTtlSeconds, limits);
  return async (ctx, next) => {
    if (authenticatesItself(ctx.path)) return next();
    const tenant = await authenticate(ctx);
    ctx.state.tenant = tenant;
    if (limits) return limits.admit(ctx, 'tenant', tenant.id, next);
    return next();
  };
}
