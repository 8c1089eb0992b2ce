import Router from '@koa/router';
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import { unauthorized } from '../http/auth.ts';
import { requireJsonBody } from '../http/json-body.ts';
import { ProblemError } from '../http/problems.ts';
import { bodyValidator } from '../http/validation.ts';
import { HAL_JSON } from '../http/media.ts';
import { bearerToken, generateApiKey, hashApiKey, secretsEqual } from './api-keys.ts';
import { insertTenant } from './repository.ts';

const createTenantBody = bodyValidator<{ name: string }>({
  type: 'object',
  required: ['name'],
  properties: { name: { type: 'string', minLength: 1, maxLength: 200 } },
  additionalProperties: false,
});

/** Tenant administration exists only when ADMIN_TOKEN is configured, and only for that token. */
export function tenantRoutes(db: Kysely<Database>, adminToken: string | undefined): Router {
  const router = new Router();
  router.post('/tenants', async (ctx) => {
    if (adminToken === undefined) throw new ProblemError('not-found', 'Tenant administration is off (ADMIN_TOKEN is not set).');
    const token = bearerToken(ctx.get('Authorization'));
    if (token === undefined || !secretsEqual(token, adminToken)) {
      throw unauthorized('POST /tenants needs "Authorization: Bearer <ADMIN_TOKEN>".', token !== undefined);
    }
    const { name } = createTenantBody(await requireJsonBody(ctx));
    const apiKey = generateApiKey();
    const tenant = await insertTenant(db, name, hashApiKey(apiKey));
    ctx.status = 201;
    ctx.set('Cache-Control', 'no-store'); // the key is shown this once
    ctx.type = HAL_JSON;
    ctx.body = JSON.stringify({
      id: tenant.id,
      name: tenant.name,
      apiKey,
      createdAt: tenant.createdAt.toISOString(),
      _links: { root: { href: '/' } },
    });
  });
  return router;
}
