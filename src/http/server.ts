// The HTTP/1.1 server in front of the Koa application, with the limits that protect it from
// hostile or broken clients. main.ts and the tests' server use this one function, so the tests
// exercise the same limits production has.
import http from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { PROBLEM_JSON } from './media.ts';
import { problemCatalog, problemDocument, type ProblemSlug } from './problems.ts';

export interface HttpServerOptions {
  /** Largest request head (request line + header fields), in bytes; a larger one is answered 431. */
  maxHeaderSize?: number;
  /** Time a client has to send the complete request head. */
  headersTimeoutMs?: number;
  /** Time a client has to send the complete request, body included (not the time to answer it). */
  requestTimeoutMs?: number;
  /** How long an idle keep-alive connection stays open between requests. */
  keepAliveTimeoutMs?: number;
  /** How often Node checks the two timeouts above; a timed-out client is cut off at the next check. */
  connectionsCheckingIntervalMs?: number;
  /** After answering a broken request, how long its connection is drained before it is destroyed. */
  lingerMs?: number;
  /** Client errors (malformed requests, timeouts) are logged at debug level, by code only. */
  logger?: Logger;
}

export const HTTP_SERVER_DEFAULTS = {
  maxHeaderSize: 16 * 1024, // Node's own default, stated here so it cannot drift
  headersTimeoutMs: 10_000,
  // Counts until the request is received; answering (a long-poll waits up to 30 s) is not counted.
  requestTimeoutMs: 45_000,
  // Longer than the 60 s idle timeout of common load balancers, so that the proxy, not this
  // server, closes an idle connection: it never sends a request onto a socket we just closed.
  keepAliveTimeoutMs: 65_000,
  connectionsCheckingIntervalMs: 1_000, // Node's default of 30 s would let a slow client stay 30 s longer
  lingerMs: 1_000,
} as const satisfies Required<Omit<HttpServerOptions, 'logger'>>;

/** The problem that answers a request Node's parser refused, before any middleware could run. */
function clientErrorProblem(code: string | undefined, maxHeaderSize: number): { slug: ProblemSlug; detail: string } {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return { slug: 'request-header-fields-too-large', detail: `The request line and header fields may be at most ${maxHeaderSize} bytes together.` };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return { slug: 'request-timeout', detail: 'The request was not received in time; send it again, complete.' };
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return { slug: 'payload-too-large', detail: 'The chunk extensions of the body are too large.' };
    default:
      return { slug: 'bad-request', detail: 'The request is not valid HTTP/1.1.' };
  }
}

/** A complete HTTP/1.1 response as bytes, for a socket that has no ServerResponse to write with. */
export function rawProblemResponse(slug: ProblemSlug, detail: string): string {
  const status = problemCatalog[slug].status;
  const body = JSON.stringify(problemDocument(slug, detail));
  return [
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? 'Error'}`,
    `Content-Type: ${PROBLEM_JSON}`,
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Cache-Control: no-store',
    'Connection: close',
    '',
    body,
  ].join('\r\n');
}

function sendProblemResponse(res: http.ServerResponse, slug: ProblemSlug, detail: string): void {
  const body = JSON.stringify(problemDocument(slug, detail));
  res.writeHead(problemCatalog[slug].status, {
    'Content-Type': PROBLEM_JSON,
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
  });
  res.end(body);
}

/** The response Node has assigned to this connection and not finished yet, if any. */
function responseInFlight(socket: Duplex): http.ServerResponse | undefined {
  // Node's own default handler looks at the same field to decide whether it may still answer.
  return (socket as Duplex & { _httpMessage?: http.ServerResponse | null })._httpMessage ?? undefined;
}

/**
 * An http.Server for a Koa application (or any request listener) with explicit limits on header
 * size and on slow clients. The requests Node would refuse by itself, with a bare status and no
 * body, get problem+json answers instead: malformed HTTP (400), a slow client (408), an oversized
 * head (431), an HTTP/1.1 request without Host (400), an Expect other than 100-continue (417),
 * CONNECT (400). The raw request is never logged: it may hold credentials.
 */
export function createHttpServer(app: { callback(): http.RequestListener }, options: HttpServerOptions = {}): http.Server {
  const limits = { ...HTTP_SERVER_DEFAULTS, ...withoutUndefined(options) };
  const server = http.createServer(
    {
      maxHeaderSize: limits.maxHeaderSize,
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      connectionsCheckingInterval: limits.connectionsCheckingIntervalMs,
      requireHostHeader: false, // checked below, to answer with a problem
    },
    withHostCheck(app.callback()),
  );
  server.on('checkExpectation', (_req: http.IncomingMessage, res: http.ServerResponse) => {
    sendProblemResponse(res, 'expectation-failed', 'The only expectation this server meets is "Expect: 100-continue".');
  });
  server.on('connect', (_req: http.IncomingMessage, socket: Duplex) => {
    answerAndClose(socket, 'bad-request', 'CONNECT is not supported: this server is not a proxy.', limits.lingerMs);
  });
  const answered = new WeakSet<Duplex>();
  server.on('clientError', (error: Error, socket: Duplex) => {
    // The parser may report the same broken connection more than once: answer it once.
    if (answered.has(socket)) return;
    answered.add(socket);
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const inFlight = responseInFlight(socket);
    if (inFlight && inFlight.req.complete && code !== 'ERR_HTTP_REQUEST_TIMEOUT') {
      // The broken bytes follow a complete request that is still being answered. Answers go in
      // order, so an error written now would be read as that request's answer: let its own
      // answer go out, then close, and read nothing more (RFC 9112 §9.6).
      if (!inFlight.headersSent) inFlight.shouldKeepAlive = false;
      const close = () => closeSoon(socket, limits.lingerMs);
      if (inFlight.writableFinished) close();
      else inFlight.once('finish', close);
      return;
    }
    if (inFlight?.headersSent) {
      socket.destroy(); // the answer has begun: nothing sensible can follow it
      return;
    }
    const problem = clientErrorProblem(code, limits.maxHeaderSize);
    options.logger?.debug({ code, status: problemCatalog[problem.slug].status }, 'client error');
    answerAndClose(socket, problem.slug, problem.detail, limits.lingerMs);
  });
  return server;
}

/**
 * Writes a problem straight to the socket, for a request that has no ServerResponse to write it
 * with (or whose ServerResponse never got to start), and closes the connection.
 */
function answerAndClose(socket: Duplex, slug: ProblemSlug, detail: string, lingerMs: number): void {
  socket.write(rawProblemResponse(slug, detail));
  closeSoon(socket, lingerMs);
}

/**
 * Half-closes the connection, then keeps reading (and discarding) for a moment before destroying
 * it: a client still sending, say, an oversized head reads the answer instead of a reset.
 */
function closeSoon(socket: Duplex, lingerMs: number): void {
  socket.end();
  socket.resume();
  const linger = setTimeout(() => socket.destroy(), lingerMs);
  linger.unref();
  socket.once('close', () => clearTimeout(linger));
}

/** RFC 9112 §3.2: a server MUST answer 400 to an HTTP/1.1 request without a Host header field. */
function withHostCheck(handle: http.RequestListener): http.RequestListener {
  return (req, res) => {
    const http11 = req.httpVersionMajor > 1 || (req.httpVersionMajor === 1 && req.httpVersionMinor >= 1);
    if (http11 && req.headers.host === undefined) {
      res.shouldKeepAlive = false;
      sendProblemResponse(res, 'bad-request', 'An HTTP/1.1 request must carry a Host header field.');
      return;
    }
    return handle(req, res);
  };
}

function withoutUndefined(options: HttpServerOptions): Partial<Omit<HttpServerOptions, 'logger'>> {
  const { logger: _logger, ...rest } = options;
  return Object.fromEntries(Object.entries(rest).filter(([, value]) => value !== undefined));
}
