import type { Context, Middleware } from 'koa';
import type { Logger } from 'pino';
import { ProblemError, problemDocument, type ProblemSlug } from './problems.ts';
import { PROBLEM_JSON } from './media.ts';
import { HostMisconfigurationError } from './body.ts';

// SQLSTATE classes and socket errors that mean "the database is not there right now" (RFC 9110
// §15.6.4: 503 with Retry-After), as opposed to a bug in a statement.
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN',
  '57P01', '57P02', '57P03', // admin shutdown, crash shutdown, cannot connect now
  '53300', // too many connections
  '57014', // statement_timeout: the database did not finish in time (or a cancel: the same for a client)
  '25P03', // idle_in_transaction_session_timeout ended the session
]);
const UNAVAILABLE_MESSAGES = [
  /^Connection terminated/, /timeout exceeded when trying to connect/, /Client has encountered a connection error/,
  /^Query read timeout$/, // pg's query_timeout (pool.query; Kysely's queries raise DatabaseTimeoutError, code ETIMEDOUT)
];

export function isDatabaseUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && (UNAVAILABLE_CODES.has(code) || code.startsWith('08'))) return true;
  return UNAVAILABLE_MESSAGES.some((pattern) => pattern.test(error.message));
}

export function sendProblem(
  ctx: Context,
  slug: ProblemSlug,
  detail?: string,
  extensions: Record<string, unknown> = {},
): void {
  const doc = problemDocument(slug, detail, { instance: ctx.path, ...extensions });
  ctx.status = doc.status ?? 500;
  ctx.body = JSON.stringify(doc);
  ctx.type = PROBLEM_JSON;
}

/** Errors that body parsers (raw-body, http-errors) raise for the client's own mistakes. */
function clientErrorSlug(error: unknown): ProblemSlug | undefined {
  const type = (error as { type?: unknown }).type;
  if (type === 'entity.too.large') return 'payload-too-large';
  if (type === 'request.aborted' || type === 'request.size.invalid' || type === 'encoding.unsupported') return 'malformed-body';
  return undefined;
}

/** Outermost middleware: every failure leaves as application/problem+json, never as a stack trace. */
export function problemMiddleware(logger: Logger): Middleware {
  return async (ctx, next) => {
    try {
      await next();
      if (ctx.body === undefined || ctx.body === null) {
        if (ctx.status === 404) sendProblem(ctx, 'not-found', `No resource at ${ctx.path}.`);
        else if (ctx.status === 405) sendProblem(ctx, 'method-not-allowed', `${ctx.method} is not allowed on ${ctx.path}.`);
        else if (ctx.status === 501) {
          // @koa/router answers 501 to a method no route implements (PROPFIND, MKCOL…), with the
          // methods of the path in Allow. A client's choice of method is a client error here: 405
          // where the path exists, 404 where it does not.
          if (ctx.response.get('Allow') === '') {
            ctx.remove('Allow');
            sendProblem(ctx, 'not-found', `No resource at ${ctx.path}.`);
          } else {
            sendProblem(ctx, 'method-not-allowed', `${ctx.method} is not allowed on ${ctx.path}.`);
          }
        }
      }
    } catch (error) {
      if (error instanceof ProblemError) {
        for (const [name, value] of Object.entries(error.headers)) ctx.set(name, value);
        const doc = error.document({ instance: ctx.path });
        ctx.status = error.status;
        ctx.body = JSON.stringify(doc);
        ctx.type = PROBLEM_JSON;
        return;
      }
      const clientSlug = clientErrorSlug(error);
      if (clientSlug) {
        sendProblem(ctx, clientSlug, error instanceof Error ? error.message : undefined);
        return;
      }
      if (isDatabaseUnavailable(error)) {
        logger.warn({ err: error }, 'database unavailable');
        ctx.set('Retry-After', '1');
        sendProblem(ctx, 'service-unavailable', 'The database cannot be reached; retry the same request.');
        return;
      }
      if (error instanceof HostMisconfigurationError) {
        logger.error({ err: error, method: ctx.method, path: ctx.path }, 'server misconfiguration');
        sendProblem(ctx, 'internal-error', `Server misconfiguration: ${error.message} Retrying will not help until it is fixed.`);
        return;
      }
      logger.error({ err: error, method: ctx.method, path: ctx.path }, 'unhandled error');
      sendProblem(ctx, 'internal-error', 'The request failed; it is safe to retry it unchanged.');
    }
  };
}
