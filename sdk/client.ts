// A typed client for the idempotence service: openapi-fetch over the generated types, plus
// executeAction(), the part a generated client cannot know — how to retry without doing
// anything twice, and how to wait for an asynchronous action to finish.
import createClient, { type Client, type Middleware } from 'openapi-fetch';
import type { components, paths } from './schema.d.ts';

export type Action = components['schemas']['Action'];
export type Context = components['schemas']['Context'];
export type ContextState = components['schemas']['ContextState'];
export type Account = components['schemas']['Account'];
export type Problem = components['schemas']['Problem'];
export type ProblemType = components['schemas']['ProblemType'];
export type IdempotenceClient = Client<paths>;

export interface IdempotenceClientOptions {
  /** Where the service listens, e.g. `http://127.0.0.1:3000`. */
  baseUrl: string;
  /** A tenant API key (`idem_…`), sent as `Authorization: Bearer <key>`. */
  apiKey: string;
  /** Replaces `globalThis.fetch` (proxies, instrumentation, fault injection in tests). */
  fetch?: (request: Request) => Promise<Response>;
}

export function createIdempotenceClient(options: IdempotenceClientOptions): IdempotenceClient {
  const client = createClient<paths>({ baseUrl: options.baseUrl, ...(options.fetch ? { fetch: options.fetch } : {}) });
  // A middleware rather than a default header, so the key is set on every request, whatever
  // headers a call passes, and never ends up in the options a caller can read back.
  const bearer: Middleware = {
    onRequest({ request }) {
      request.headers.set('Authorization', `Bearer ${options.apiKey}`);
      return request;
    },
  };
  client.use(bearer);
  return client;
}

/** An RFC 9457 problem answered by the service (or synthesized for a non-problem error answer). */
export class ProblemError extends Error {
  override readonly name = 'ProblemError';
  /** `about:blank` when the answer was not a problem document (a proxy's 502 page, say). */
  readonly type: ProblemType | 'about:blank';
  readonly title: string;
  readonly status: number;
  readonly detail: string | undefined;
  readonly instance: string | undefined;

  constructor(
    /** The whole document, extension members (`currentETag`, …) included. */
    readonly problem: Problem | { type: 'about:blank'; title: string; status: number },
    readonly response: Response,
  ) {
    const detail = 'detail' in problem ? problem.detail : undefined;
    super(`${problem.status} ${problem.title}${detail ? `: ${detail}` : ''}`);
    this.type = problem.type;
    this.title = problem.title;
    this.status = problem.status;
    this.detail = detail;
    this.instance = 'instance' in problem ? problem.instance : undefined;
  }
}

export interface RetryPolicy {
  /** Tries in all, the first one included. */
  attempts: number;
  /** Backoff before the n-th retry: about baseDelayMs · 2^(n−1), unless the answer said Retry-After. */
  baseDelayMs: number;
}

export interface ExecuteActionOptions {
  action: Action;
  /** The context to create and execute with `PUT /contexts/{id}` + `If-None-Match: *`; a fresh UUID if omitted. */
  contextId?: string;
  /** Use the one-shot `POST /contexts` with this `Idempotency-Key` instead (not together with contextId). */
  idempotencyKey?: string;
  retry?: RetryPolicy;
  /** How long each long-poll of an asynchronous action may be held by the server (`Prefer: wait=N`, capped at 30). */
  waitSeconds?: number;
  /** Per request, on top of the long-poll's wait; past it the request counts as lost and is retried. */
  timeoutMs?: number;
  /** Gives up: aborts the request in flight, the backoff or the long-poll, and rejects with the reason. */
  signal?: AbortSignal;
}

export interface ExecuteActionResult {
  /** Final: `succeeded` or `failed` (a failed action is an outcome, not an exception). */
  context: Context;
  /** The executing request was answered from the record of an earlier one (`Idempotent-Replayed: true`). */
  replayed: boolean;
  /** How many times the executing request was sent (long-polls not counted). */
  attempts: number;
}

const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseDelayMs: 250 };

/**
 * Executes `action` exactly once, however often the request has to be sent. Every retry is the
 * identical request — same context id and `If-None-Match: *`, or same `Idempotency-Key`, same
 * body — so the service either executes it (nothing had committed) or replays the recorded
 * outcome; it never runs twice. Network errors, timeouts and 5xx are retried; a 4xx is the
 * request's own fault, would fail again, and is thrown as a ProblemError at once.
 */
export async function executeAction(client: IdempotenceClient, options: ExecuteActionOptions): Promise<ExecuteActionResult> {
  if (options.contextId !== undefined && options.idempotencyKey !== undefined) {
    throw new TypeError('executeAction: give contextId or idempotencyKey, not both');
  }
  const retry = options.retry ?? DEFAULT_RETRY;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const { action, idempotencyKey, signal } = options;
  // Chosen once, outside the retry loop: a new id per try would make each retry a new action.
  const contextId = options.contextId ?? crypto.randomUUID();

  const sent =
    idempotencyKey === undefined
      ? await sendWithRetry(
          (attemptSignal) =>
            client.PUT('/contexts/{id}', {
              params: { path: { id: contextId }, header: { 'If-None-Match': '*' } },
              body: { action },
              signal: attemptSignal,
            }),
          retry,
          timeoutMs,
          signal,
        )
      : await sendWithRetry(
          (attemptSignal) =>
            client.POST('/contexts', {
              params: { header: { 'Idempotency-Key': idempotencyKey } },
              body: { action },
              signal: attemptSignal,
            }),
          retry,
          timeoutMs,
          signal,
        );

  if (!sent.data) throw new Error(`executeAction: ${sent.response.status} without a body`);
  const replayed = sent.response.headers.get('Idempotent-Replayed') === 'true';
  let context = sent.data;
  if (sent.response.status === 202) {
    context = await awaitFinal(client, context, sent.response, { retry, timeoutMs, waitSeconds: options.waitSeconds ?? 20, signal });
  }
  return { context, replayed, attempts: sent.attempts };
}

/**
 * Follows an accepted asynchronous action (202) to its final state with long-polls: the server
 * holds each GET until the context's version changes, so the answer comes as soon as the worker
 * commits, without polling. Reads are safe, so they are retried like the executing request.
 */
async function awaitFinal(
  client: IdempotenceClient,
  accepted: Context,
  acceptedResponse: Response,
  options: { retry: RetryPolicy; timeoutMs: number; waitSeconds: number; signal: AbortSignal | undefined },
): Promise<Context> {
  let context = accepted;
  let etag = acceptedResponse.headers.get('ETag');
  const pauseMs = retryAfterMs(acceptedResponse) ?? 1000;
  while (context.state === 'processing') {
    const polled = await sendWithRetry(
      (attemptSignal) =>
        client.GET('/contexts/{id}', {
          params: {
            path: { id: context.id },
            header: { Prefer: `wait=${options.waitSeconds}`, ...(etag === null ? {} : { 'If-None-Match': etag }) },
          },
          signal: attemptSignal,
        }),
      options.retry,
      options.timeoutMs + options.waitSeconds * 1000,
      options.signal,
    );
    // 304: nothing changed during the wait; ask again with the same tag.
    if (polled.response.status === 200 && polled.data) {
      context = polled.data;
      etag = polled.response.headers.get('ETag') ?? etag;
    }
    // An answer the server did not hold (an intermediary dropped Prefer, say) would make this a
    // busy loop; fall back to the pace the 202's Retry-After asked for.
    if (context.state === 'processing' && !polled.response.headers.has('Preference-Applied')) {
      await sleep(pauseMs, options.signal);
    }
  }
  return context;
}

interface Sent<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/** Sends until an answer other than 5xx or 429 arrives or the tries run out; a 4xx, or the last 5xx or 429, is thrown. */
async function sendWithRetry<T>(
  send: (signal: AbortSignal) => Promise<Sent<T>>,
  retry: RetryPolicy,
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<{ data: T | undefined; response: Response; attempts: number }> {
  for (let attempt = 1; ; attempt++) {
    const timeout = AbortSignal.timeout(timeoutMs);
    let sent: Sent<T>;
    try {
      sent = await send(signal ? AbortSignal.any([signal, timeout]) : timeout);
    } catch (error) {
      // No answer (connection refused or cut, our timeout, a body cut short): the request may or
      // may not have executed, and only the identical request finds out safely.
      if (signal?.aborted || attempt >= retry.attempts) throw error;
      await sleep(backoffMs(retry, attempt), signal);
      continue;
    }
    const { response } = sent;
    if (response.status < 400) return { data: sent.data, response, attempts: attempt };
    const problem = new ProblemError(asProblem(sent.error, response), response);
    // A 429 (over a rate limit) was refused before anything ran, like a 503: the same request may follow.
    if ((response.status < 500 && response.status !== 429) || attempt >= retry.attempts) throw problem;
    // The service sends Retry-After with its 503s (database unreachable) and 429s: it knows best when to come back.
    await sleep(retryAfterMs(response) ?? backoffMs(retry, attempt), signal);
  }
}

function asProblem(body: unknown, response: Response): ProblemError['problem'] {
  const looksLikeProblem =
    typeof body === 'object' &&
    body !== null &&
    'type' in body &&
    typeof body.type === 'string' &&
    'title' in body &&
    typeof body.title === 'string' &&
    'status' in body &&
    typeof body.status === 'number';
  return looksLikeProblem
    ? (body as Problem)
    : { type: 'about:blank', title: response.statusText || `HTTP ${response.status}`, status: response.status };
}

/** Retry-After in ms: delta-seconds or an HTTP-date (RFC 9110 §10.2.3); undefined when absent or unreadable. */
function retryAfterMs(response: Response): number | undefined {
  const value = response.headers.get('Retry-After')?.trim();
  if (!value) return undefined;
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

function backoffMs(retry: RetryPolicy, attempt: number): number {
  // Jitter, so that clients that failed together do not all come back at the same instant.
  return retry.baseDelayMs * 2 ** (attempt - 1) * (0.5 + Math.random() / 2);
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
