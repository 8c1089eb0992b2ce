import Router from '@koa/router';
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import type { AuthState } from '../http/auth.ts';
import { link, type Links } from '../http/hal.ts';
import { isUuid } from '../http/ids.ts';
import { requireJsonBody } from '../http/json-body.ts';
import { pageOf, parsePageRequest, queryString, singleParam } from '../http/pagination.ts';
import { ProblemError } from '../http/problems.ts';
import { sendConditionalRead, storedRepresentation } from '../http/respond.ts';
import { respondIdempotently } from '../idempotency/http.ts';
import { bodyValidator } from '../http/validation.ts';
import { currencySchema, isCurrencyCode } from './money.ts';
import { findAccount, insertAccount, listAccounts, listEntries } from './repository.ts';
import { accountETag, accountPath, renderAccount, renderEntry } from './representation.ts';

const createAccountBody = bodyValidator<{ name: string; currency: string }>({
  type: 'object',
  required: ['name', 'currency'],
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 200 },
    currency: currencySchema,
  },
  additionalProperties: false,
});

function pageLinks(path: string, limit: number, cursor: string | undefined, nextCursor: string | undefined): Links {
  const links: Links = { self: link(`${path}${queryString({ limit, cursor })}`) };
  if (nextCursor) links['next'] = link(`${path}${queryString({ limit, cursor: nextCursor })}`);
  return links;
}

export function ledgerRoutes(db: Kysely<Database>, keyTtlSeconds: number): Router<AuthState> {
  const router = new Router<AuthState>();

  router.post('/accounts', async (ctx) => {
    const input = createAccountBody(await requireJsonBody(ctx));
    if (!isCurrencyCode(input.currency)) {
      throw new ProblemError('validation-failed', `/currency "${input.currency}" is not an ISO 4217 currency code.`);
    }
    const tenantId = ctx.state.tenant.id;
    await respondIdempotently(ctx, {
      db,
      scope: tenantId,
      operation: 'POST /accounts',
      body: input,
      ttlSeconds: keyTtlSeconds,
      async execute(trx) {
        const row = await insertAccount(trx, tenantId, input.name, input.currency);
        const representation = { status: 201, body: JSON.stringify(renderAccount(row)), etag: accountETag(row), location: accountPath(row.id) };
        return { response: storedRepresentation(representation) };
      },
    });
  });

  router.get('/accounts', async (ctx) => {
    const page = parsePageRequest(ctx.query);
    const rows = await listAccounts(db, ctx.state.tenant.id, page.limit + 1, page.before);
    const { items, nextCursor } = pageOf(rows, page.limit);
    const document = {
      _links: pageLinks('/accounts', page.limit, singleParam(ctx.query, 'cursor'), nextCursor),
      count: items.length,
      _embedded: { accounts: items.map(renderAccount) },
    };
    sendConditionalRead(ctx, JSON.stringify(document));
  });

  const accountOr404 = async (tenantId: string, id: string) => {
    const row = isUuid(id) ? await findAccount(db, tenantId, id) : undefined;
    if (!row) throw new ProblemError('not-found', `There is no account ${id}.`);
    return row;
  };

  router.get('/accounts/:id', async (ctx) => {
    const row = await accountOr404(ctx.state.tenant.id, ctx.params['id'] ?? '');
    sendConditionalRead(ctx, JSON.stringify(renderAccount(row)), accountETag(row));
  });

  router.get('/accounts/:id/entries', async (ctx) => {
    const account = await accountOr404(ctx.state.tenant.id, ctx.params['id'] ?? '');
    const page = parsePageRequest(ctx.query);
    const rows = await listEntries(db, ctx.state.tenant.id, account.id, page.limit + 1, page.before);
    const { items, nextCursor } = pageOf(rows.map((row) => ({ ...row, seq: row.id })), page.limit);
    const path = `${accountPath(account.id)}/entries`;
    const links = pageLinks(path, page.limit, singleParam(ctx.query, 'cursor'), nextCursor);
    links['account'] = link(accountPath(account.id));
    const document = { _links: links, count: items.length, _embedded: { entries: items.map(renderEntry) } };
    sendConditionalRead(ctx, JSON.stringify(document));
  });

  return router;
}
