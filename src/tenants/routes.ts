import Router, { type RouterContext } from '@koa/router';
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import { asAdministrator } from '../http/admin-auth.ts';
import { requireJsonBody } from '../http/json-body.ts';
import type { RequestLimits } from '../http/rate-limits.ts';
import { bodyValidator } from '../http/validation.ts';
import { HAL_JSON } from '../http/media.ts';
import { generateApiKey, hashApiKey } from './api-keys.ts';
import { insertTenant, replaceApiKeyHash, type Tenant } from './repository.ts';
import { ADMIN_SCOPE, respondIdempotently } from '../idempotency/http.ts';

const createTenantBody = bodyValidator<{ name: string }>({
  type: 'object',
  required: ['name'],
  properties: { name: { type: 'string', minLength: 1, maxLength: 200 } },
  additionalProperties: false,
});

/**
 * Tenant administration exists only when ADMIN_TOKEN is configured, and only for that token;
 * with `limits`, under the administrator's limits, and failed tokens count against the address.
 */
export function tenantRoutes(db: Kysely<Database>, adminToken: string | undefined, keyTtlSeconds: number, limits?: RequestLimits): Router {
  const router = new Router();
  router.post('/tenants', (ctx) => asAdministrator(ctx, adminToken, limits, () => createTenant(ctx)));

  async function createTenant(ctx: RouterContext): Promise<void> {
    const input = createTenantBody(await requireJsonBody(ctx));
    const headers = { 'Content-Type': HAL_JSON, 'Cache-Control': 'no-store' };
    const render = (tenant: Tenant, apiKey: string | null) =>
      JSON.stringify({ id: tenant.id, name: tenant.name, apiKey, createdAt: tenant.createdAt.toISOString(), _links: { root: { href: '/' } } });
    await respondIdempotently(ctx, {
      db,
      scope: ADMIN_SCOPE,
      operation: 'POST /tenants',
      body: input,
      ttlSeconds: keyTtlSeconds,
      async execute(trx) {
        const apiKey = generateApiKey();
        const tenant = await insertTenant(trx, input.name, hashApiKey(apiKey));
        // API keys are kept only as hashes, also in the Idempotency-Key record.
        return { response: { status: 201, body: render(tenant, apiKey), headers }, record: { status: 201, body: render(tenant, null), headers } };
      },
      async replay(trx, row) {
        // The key was never kept, so a keyed retry (whose first answer was lost) gets a fresh
        // key for the same tenant; the lost one stops working.
        const recorded = JSON.parse(row.response_body ?? '{}') as { id: string; name: string; createdAt: string };
        const apiKey = generateApiKey();
        await replaceApiKeyHash(trx, recorded.id, hashApiKey(apiKey));
        return { status: 201, body: render({ id: recorded.id, name: recorded.name, createdAt: new Date(recorded.createdAt) }, apiKey), headers };
      },
    });
  }
  return router;
}
