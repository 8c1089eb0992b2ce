import type { Middleware } from 'koa';
import type { OperationsJournal } from '../operations/journal.ts';
import { isWriteMethod, requestOutcome } from '../operations/outcomes.ts';
import { observeRequests } from './observe.ts';
import { requestFacts } from './request-facts.ts';
import type { RouteResolver } from './route-template.ts';

/**
 * Each write request that touched a context, with its answer, into the context's timeline (the
 * operator console). Reads are left out: a long-poll or a 304 changes nothing worth a line.
 * What is kept: method, route, status, outcome, replayed and the request's duration; never a
 * header value, a body or a key.
 */
export function journalRequests(journal: OperationsJournal, route: RouteResolver): Middleware {
  return observeRequests((ctx, { status, elapsedNs }) => {
    if (!isWriteMethod(ctx.method)) return;
    const { tenant, context, route: template, replayed } = requestFacts(ctx, route);
    if (!tenant || !context) return;
    journal.record({
      tenantId: tenant,
      contextId: context,
      // When the request arrived: it reads before the state change it made, which is stamped at its transaction's start.
      at: new Date(Date.now() - Number(elapsedNs / 1_000_000n)),
      kind: 'request',
      outcome: requestOutcome({ method: ctx.method, route: template, status, replayed }),
      detail: { method: ctx.method, route: template, status, replayed, keyed: ctx.get('Idempotency-Key') !== '', ms: Math.round(Number(elapsedNs) / 1e5) / 10 },
    });
  });
}
