import Router from '@koa/router';
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import type { AuthState } from '../http/auth.ts';
import { link, type Links } from '../http/hal.ts';
import { isUuid } from '../http/ids.ts';
import { requireJsonBody } from '../http/json-body.ts';
import { respondIdempotently } from '../idempotency/http.ts';
import { HAL_JSON } from '../http/media.ts';
import { pageOf, parsePageRequest, queryString, singleParam } from '../http/pagination.ts';
import { ProblemError } from '../http/problems.ts';
import { sendConditionalRead } from '../http/respond.ts';
import { bodyValidator } from '../http/validation.ts';
import { deleteWebhookEndpoint, findWebhookEndpoint, insertWebhookEndpoint, listWebhookEndpoints, type WebhookEndpointRow } from './repository.ts';
import { generateWebhookSecret } from './signing.ts';

export const MAX_WEBHOOK_URL_LENGTH = 2000;

const createWebhookBody = bodyValidator<{ url: string }>({
  type: 'object',
  required: ['url'],
  properties: { url: { type: 'string', minLength: 1, maxLength: MAX_WEBHOOK_URL_LENGTH } },
  additionalProperties: false,
});

/**
 * The URL as WHATWG parsing normalizes it (lower-case scheme and host, a path of at least `/`):
 * what is stored, shown and called are the same string. Only absolute http(s) URLs qualify.
 */
export function normalizeWebhookUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ProblemError('validation-failed', '/url is not an absolute URL.');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ProblemError('validation-failed', `/url must be an http or https URL, not ${url.protocol}.`);
  }
  if (url.href.length > MAX_WEBHOOK_URL_LENGTH) {
    throw new ProblemError('validation-failed', `/url must not be longer than ${MAX_WEBHOOK_URL_LENGTH} characters once normalized.`);
  }
  return url.href;
}

export function webhookPath(id: string): string {
  return `/webhooks/${id}`;
}

export function renderWebhookEndpoint(row: WebhookEndpointRow): Record<string, unknown> {
  return {
    id: row.id,
    url: row.url,
    createdAt: row.created_at.toISOString(),
    _links: { self: link(webhookPath(row.id)) },
  };
}

function pageLinks(limit: number, cursor: string | undefined, nextCursor: string | undefined): Links {
  const links: Links = { self: link(`/webhooks${queryString({ limit, cursor })}`) };
  if (nextCursor) links['next'] = link(`/webhooks${queryString({ limit, cursor: nextCursor })}`);
  return links;
}

/** Webhook endpoints of the authenticated tenant. The signing secret is shown only by the POST. */
export function webhookRoutes(db: Kysely<Database>, keyTtlSeconds: number): Router<AuthState> {
  const router = new Router<AuthState>();

  router.post('/webhooks', async (ctx) => {
    const input = createWebhookBody(await requireJsonBody(ctx));
    const url = normalizeWebhookUrl(input.url);
    const tenantId = ctx.state.tenant.id;
    await respondIdempotently(ctx, {
      db,
      scope: tenantId,
      operation: 'POST /webhooks',
      body: input,
      ttlSeconds: keyTtlSeconds,
      async execute(trx) {
        const secret = generateWebhookSecret();
        const row = await insertWebhookEndpoint(trx, tenantId, url, secret);
        const body = JSON.stringify({
          id: row.id,
          url: row.url,
          secret,
          createdAt: row.created_at.toISOString(),
          _links: { self: link(webhookPath(row.id)) },
        });
        // The secret is shown on creation only (and to a keyed retry of that very request).
        const headers = { 'Content-Type': HAL_JSON, Location: webhookPath(row.id), 'Cache-Control': 'no-store' };
        return { response: { status: 201, body, headers } };
      },
    });
  });

  router.get('/webhooks', async (ctx) => {
    const page = parsePageRequest(ctx.query);
    const rows = await listWebhookEndpoints(db, ctx.state.tenant.id, page.limit + 1, page.before);
    const { items, nextCursor } = pageOf(rows, page.limit);
    const document = {
      _links: pageLinks(page.limit, singleParam(ctx.query, 'cursor'), nextCursor),
      count: items.length,
      _embedded: { webhooks: items.map(renderWebhookEndpoint) },
    };
    sendConditionalRead(ctx, JSON.stringify(document));
  });

  router.get('/webhooks/:id', async (ctx) => {
    const id = ctx.params['id'] ?? '';
    const row = isUuid(id) ? await findWebhookEndpoint(db, ctx.state.tenant.id, id) : undefined;
    if (!row) throw new ProblemError('not-found', `There is no webhook endpoint ${id}.`);
    sendConditionalRead(ctx, JSON.stringify(renderWebhookEndpoint(row)));
  });

  router.delete('/webhooks/:id', async (ctx) => {
    const id = ctx.params['id'] ?? '';
    const deleted = isUuid(id) && (await deleteWebhookEndpoint(db, ctx.state.tenant.id, id));
    if (!deleted) throw new ProblemError('not-found', `There is no webhook endpoint ${id}.`);
    ctx.status = 204;
  });

  return router;
}
