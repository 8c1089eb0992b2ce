// The payment worker's client for the card processor (the simulator in src/processor/, or a real
// one with the same contract). It never throws for what the network or the processor does:
// every answer is classified by what it tells us about the charge. Each request is a CLIENT
// span that carries the key's hash (never the key, which a path may hold) and sends the
// traceparent, so a traced processor's spans join the payment's trace.
import { context, propagation, SpanStatusCode, type Span } from '@opentelemetry/api';
import { ATTR, keyHash } from '../telemetry/attributes.ts';
import { CLIENT, inSpan } from '../telemetry/tracer.ts';

export interface Charge {
  id: string;
  idempotencyKey: string;
  amount: number;
  currency: string;
  source: string;
  status: 'succeeded' | 'declined';
  createdAt: string;
}

export interface ChargeRequest {
  amount: number;
  currency: string;
  source: string;
}

export type ChargeOutcome =
  | { kind: 'charged'; charge: Charge }
  | { kind: 'declined'; charge: Charge }
  /** A 4xx other than 402/408/409/429: the same request will never succeed. */
  | { kind: 'rejected'; status: number; detail: string }
  /** Timeout, network error, 5xx, 408, 409, 429, or an answer we cannot read: the charge may or
   *  may not exist. Retry with the same key, or look it up. */
  | { kind: 'unknown'; reason: string };

export type LookupOutcome =
  | { kind: 'found'; charge: Charge }
  /** The processor says it has no charge with this key. Conclusive only once no request with the
   *  key can still be in flight: a slow request may record its charge after this answer. */
  | { kind: 'not-found' }
  | { kind: 'unknown'; reason: string };

export interface ChargePage {
  charges: Charge[];
  /** Present when there may be more: pass it as `after` for the next page. */
  next?: string;
}

/** listCharges has no outcome to report but the page: anything else is this error. */
export class ProcessorUnavailableError extends Error {
  constructor(readonly reason: string) {
    super(`processor unavailable: ${reason}`);
    this.name = 'ProcessorUnavailableError';
  }
}

// The problem type the processor uses for "no charge with this key", as opposed to a 404 from
// anything else on the way (a wrong base URL, a proxy), which proves nothing about the charge.
const CHARGE_NOT_FOUND_TYPE = 'https://idempotence.dev/processor/problems/charge-not-found';

const LIST: Target = { method: 'GET', template: '/charges' };

type Reply = { kind: 'reply'; status: number; json: unknown; text: string } | { kind: 'failed'; reason: string };

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** A charge as the processor renders it, or undefined when the JSON is not one. */
export function parseCharge(value: unknown): Charge | undefined {
  if (!isRecord(value)) return undefined;
  const { id, idempotencyKey, amount, currency, source, status, createdAt } = value;
  if (
    typeof id !== 'string' ||
    typeof idempotencyKey !== 'string' ||
    typeof amount !== 'number' ||
    !Number.isSafeInteger(amount) ||
    typeof currency !== 'string' ||
    typeof source !== 'string' ||
    (status !== 'succeeded' && status !== 'declined') ||
    typeof createdAt !== 'string'
  ) {
    return undefined;
  }
  return { id, idempotencyKey, amount, currency, source, status, createdAt };
}

function describeFailure(error: unknown): string {
  if (error instanceof Error) {
    if (error.name === 'TimeoutError') return 'timed out';
    const cause = (error as { cause?: unknown }).cause;
    const causeText = cause instanceof Error ? `: ${(cause as { code?: unknown }).code ?? cause.message}` : '';
    return `${error.name === 'AbortError' ? 'aborted' : error.message}${causeText}`;
  }
  return String(error);
}

function problemDetail(reply: { json: unknown; text: string }): string {
  if (isRecord(reply.json)) {
    const { detail, title } = reply.json;
    if (typeof detail === 'string') return detail;
    if (typeof title === 'string') return title;
  }
  return reply.text.slice(0, 200);
}

/** A request as its span names it: the path's template (no key in it), and the key it is about. */
interface Target {
  method: string;
  template: string;
  key?: string;
}

function describeSpan(span: Span, target: Target, server: { address: string; port: number }, reply: Reply): void {
  span.setAttributes({
    [ATTR.httpMethod]: target.method, [ATTR.urlTemplate]: target.template, [ATTR.serverAddress]: server.address, [ATTR.serverPort]: server.port,
    ...(target.key === undefined ? {} : { [ATTR.keyHash]: keyHash(target.key) }),
  });
  // The failure's reason is not recorded: the processor's own words may quote the key or the source.
  if (reply.kind === 'failed') span.setAttribute(ATTR.errorType, reply.reason === 'timed out' ? 'timeout' : 'network');
  else span.setAttribute(ATTR.httpStatus, reply.status);
  if (reply.kind === 'failed' || reply.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
  if (reply.kind === 'reply' && reply.status >= 500) span.setAttribute(ATTR.errorType, String(reply.status));
}

/** The processor's host and port, as spans name them; a URL that does not parse fails on its first request, not here. */
function serverOf(baseUrl: string): { address: string; port: number } {
  try {
    const url = new URL(baseUrl);
    return { address: url.hostname, port: Number(url.port || (url.protocol === 'https:' ? 443 : 80)) };
  } catch {
    return { address: '', port: 0 };
  }
}

export class ProcessorClient {
  private readonly baseUrl: string;
  private readonly timeoutMs: number;
  private readonly server: { address: string; port: number };

  constructor(options: { baseUrl: string; timeoutMs: number }) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.timeoutMs = options.timeoutMs;
    this.server = serverOf(this.baseUrl);
  }

  /** One request, in a CLIENT span. Never throws. */
  private request(target: Target, path: string, headers: Record<string, string> = {}, body?: string, signal?: AbortSignal): Promise<Reply> {
    return inSpan(`${target.method} ${target.template}`, async (span) => {
      const reply = await this.send(target.method, path, headers, body, signal);
      if (span.isRecording()) describeSpan(span, target, this.server, reply);
      return reply;
    }, CLIENT);
  }

  /** The exchange; the timeout covers all of it, body included. Never throws. */
  private async send(method: string, path: string, extraHeaders: Record<string, string>, body?: string, signal?: AbortSignal): Promise<Reply> {
    try {
      const timeout = AbortSignal.timeout(this.timeoutMs);
      const headers: Record<string, string> = { accept: 'application/json, application/problem+json', ...extraHeaders };
      // traceparent (and tracestate) of this request's span, by the registered propagator; nothing when tracing is off.
      propagation.inject(context.active(), headers);
      const response = await fetch(this.baseUrl + path, {
        method,
        headers,
        signal: signal ? AbortSignal.any([timeout, signal]) : timeout,
        ...(body === undefined ? {} : { body }),
      });
      const text = await response.text();
      let json: unknown;
      try {
        json = text === '' ? undefined : JSON.parse(text);
      } catch {
        json = undefined;
      }
      return { kind: 'reply', status: response.status, json, text };
    } catch (error) {
      return { kind: 'failed', reason: describeFailure(error) };
    }
  }

  /** Charges once per key: repeat with the same key and request until the outcome is known. `signal` ends the wait early. */
  async createCharge(idempotencyKey: string, request: ChargeRequest, signal?: AbortSignal): Promise<ChargeOutcome> {
    const reply = await this.request(
      { method: 'POST', template: '/charges', key: idempotencyKey },
      '/charges',
      { 'content-type': 'application/json', 'idempotency-key': idempotencyKey },
      JSON.stringify({ amount: request.amount, currency: request.currency, source: request.source }),
      signal,
    );
    // No answer at all: the request may have been charged before the connection failed or the
    // timeout fired.
    if (reply.kind === 'failed') return { kind: 'unknown', reason: reply.reason };
    const { status } = reply;
    const charge = parseCharge(reply.json);

    // 201 new charge, 200 replay of the recorded one; the charge's own status decides.
    if (status === 200 || status === 201) {
      if (!charge) return { kind: 'unknown', reason: `${status} without a readable charge` };
      return charge.status === 'succeeded' ? { kind: 'charged', charge } : { kind: 'declined', charge };
    }
    // 402: the processor recorded a decline. Final: the same key replays the same decline.
    if (status === 402) {
      if (!charge || charge.status !== 'declined') return { kind: 'unknown', reason: '402 without a readable declined charge' };
      return { kind: 'declined', charge };
    }
    // 408: the server gave up reading the request, so nothing was decided; retrying is safe.
    // 409: a request with this key is still being processed; its outcome is not known yet.
    // 429: rate limited; try again later with the same key.
    if (status === 408 || status === 409 || status === 429) {
      return { kind: 'unknown', reason: `${status}: ${problemDetail(reply)}` };
    }
    // Any other 4xx: the request itself is wrong (bad key, bad body, unknown source, key reused
    // with another request). Repeating it unchanged gets the same answer, so it is final.
    if (status >= 400 && status < 500) return { kind: 'rejected', status, detail: problemDetail(reply) };
    // 5xx: the processor failed somewhere, possibly after charging (500) or before (503); we
    // cannot tell which. Anything else (1xx, 3xx) is not part of the contract: unknown too.
    return { kind: 'unknown', reason: `${status}: ${problemDetail(reply)}` };
  }

  /** The charge recorded under this key, if the processor has one. Never throws. */
  async getCharge(idempotencyKey: string, signal?: AbortSignal): Promise<LookupOutcome> {
    const reply = await this.request({ method: 'GET', template: '/charges/:key', key: idempotencyKey }, `/charges/${encodeURIComponent(idempotencyKey)}`, {}, undefined, signal);
    if (reply.kind === 'failed') return { kind: 'unknown', reason: reply.reason };
    if (reply.status === 200) {
      const charge = parseCharge(reply.json);
      return charge ? { kind: 'found', charge } : { kind: 'unknown', reason: '200 without a readable charge' };
    }
    // Only the processor's own "no such charge" counts as not found; see CHARGE_NOT_FOUND_TYPE.
    if (reply.status === 404 && isRecord(reply.json) && reply.json['type'] === CHARGE_NOT_FOUND_TYPE) return { kind: 'not-found' };
    return { kind: 'unknown', reason: `${reply.status}: ${problemDetail(reply)}` };
  }

  /**
   * One page of every charge, oldest first. Throws ProcessorUnavailableError when no page could be
   * read (a listing has no partial outcome to report; the caller retries the same `after`).
   */
  async listCharges(after?: string, limit?: number): Promise<ChargePage> {
    const query = new URLSearchParams();
    if (after !== undefined) query.set('after', after);
    if (limit !== undefined) query.set('limit', String(limit));
    const search = query.toString();
    const reply = await this.request(LIST, `/charges${search === '' ? '' : `?${search}`}`);
    if (reply.kind === 'failed') throw new ProcessorUnavailableError(reply.reason);
    const items: unknown = isRecord(reply.json) ? reply.json['charges'] : undefined;
    if (reply.status !== 200 || !isRecord(reply.json) || !Array.isArray(items)) {
      throw new ProcessorUnavailableError(`${reply.status}: ${problemDetail(reply)}`);
    }
    const charges: Charge[] = [];
    for (const item of items as unknown[]) {
      const charge = parseCharge(item);
      if (!charge) throw new ProcessorUnavailableError('the listing holds something that is not a charge');
      charges.push(charge);
    }
    const next = reply.json['next'];
    if (next !== undefined && typeof next !== 'string') throw new ProcessorUnavailableError('the listing has a malformed "next"');
    return next === undefined ? { charges } : { charges, next };
  }
}
