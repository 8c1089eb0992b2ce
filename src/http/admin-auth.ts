import type { Context } from 'koa';
import { bearerToken, secretsEqual } from '../tenants/api-keys.ts';
import { unauthorized } from './auth.ts';
import { ProblemError } from './problems.ts';
import type { RequestLimits } from './rate-limits.ts';

/**
 * Runs `next` for a request that carries `Authorization: Bearer <ADMIN_TOKEN>` — the
 * administrator's own credential, never a tenant key — under the administrator's limits; 401
 * otherwise (a token that was sent and is wrong counts against the client's address). With no
 * ADMIN_TOKEN configured, administration does not exist: 404.
 */
export async function asAdministrator(ctx: Context, adminToken: string | undefined, limits: RequestLimits | undefined, next: () => Promise<unknown>): Promise<void> {
  if (adminToken === undefined) throw new ProblemError('not-found', 'Administration is off (ADMIN_TOKEN is not set).');
  const authorization = ctx.get('Authorization');
  if (authorization !== '') await limits?.refuseAfterFailures(ctx);
  const token = bearerToken(authorization);
  if (token === undefined || !secretsEqual(token, adminToken)) {
    if (authorization !== '') await limits?.countFailure(ctx);
    throw unauthorized(`${ctx.method} ${ctx.path} needs "Authorization: Bearer <ADMIN_TOKEN>".`, token !== undefined);
  }
  if (limits) await limits.admit(ctx, 'admin', 'admin', next);
  else await next();
}
