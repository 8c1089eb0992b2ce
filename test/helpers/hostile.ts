// Tools for the hostile-input tests (fuzz, injection, limits, security): a bounded HTTP client
// that sends exactly the header lines it is given, a raw-socket client for requests no HTTP
// library would send, the problem+json invariant every error reply must satisfy, and a snapshot
// of the database state to prove that a rejected request changed nothing.
import http from 'node:http';
import net from 'node:net';
import type pg from 'pg';
import { problemCatalog, PROBLEM_TYPE_BASE } from '../../src/http/problems.ts';

export interface RawRequest {
  method: string;
  /** Sent as it is: must already be percent-encoded where needed. */
  path: string;
  /** An array sends the header once per value, as separate lines. */
  headers?: Record<string, string | string[]>;
  body?: string | Buffer;
  /** Sends the body with Transfer-Encoding: chunked (no Content-Length), in 16 KiB chunks. */
  chunked?: boolean;
}

export interface RawReply {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

/** Every request of these tests ends within this time, whatever the server does. */
export const REQUEST_TIMEOUT_MS = 10_000;

/** One request over node:http (keep-alive through `agent` when given), bounded in time. */
export function rawRequest(base: string, request: RawRequest, agent?: http.Agent): Promise<RawReply> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const outgoing = http.request(
      {
        host: url.hostname,
        port: url.port,
        method: request.method,
        path: request.path,
        headers: request.headers ?? {},
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
        ...(agent ? { agent } : {}),
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', reject);
        response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, text: Buffer.concat(chunks).toString('utf8') }));
      },
    );
    outgoing.on('error', reject);
    if (request.chunked && request.body !== undefined) {
      const body = Buffer.from(request.body);
      outgoing.setHeader('Transfer-Encoding', 'chunked');
      for (let offset = 0; offset < body.length; offset += 16_384) outgoing.write(body.subarray(offset, offset + 16_384));
      outgoing.end();
      return;
    }
    outgoing.end(request.body);
  });
}

/**
 * Writes bytes to a fresh connection and collects everything the server sends until it closes
 * the connection or `waitMs` passes (then the client closes it). `pace` sends the chunks one by
 * one with that many milliseconds between them (a slow client).
 */
export async function rawExchange(
  base: string,
  chunks: (string | Buffer)[],
  options: { waitMs?: number; paceMs?: number; settleMs?: number } = {},
): Promise<{ text: string; closedByServer: boolean; ms: number }> {
  const url = new URL(base);
  const started = Date.now();
  return new Promise((resolve) => {
    const socket = net.connect(Number(url.port), url.hostname);
    const received: Buffer[] = [];
    let closedByServer = false;
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      clearTimeout(deadline);
      clearTimeout(settle);
      clearInterval(pacer);
      socket.destroy();
      resolve({ text: Buffer.concat(received).toString('latin1'), closedByServer, ms: Date.now() - started });
    };
    const deadline = setTimeout(finish, options.waitMs ?? 3_000);
    let pacer: NodeJS.Timeout | undefined;
    // `settleMs`: once something was received, stop when nothing more arrives for that long.
    let settle: NodeJS.Timeout | undefined;
    socket.on('data', (chunk: Buffer) => {
      received.push(chunk);
      if (options.settleMs === undefined) return;
      clearTimeout(settle);
      settle = setTimeout(finish, options.settleMs);
    });
    socket.on('end', () => {
      closedByServer = true;
      finish();
    });
    socket.on('close', () => {
      closedByServer = true;
      finish();
    });
    socket.on('error', () => finish());
    socket.on('connect', () => {
      if (options.paceMs === undefined) {
        for (const chunk of chunks) socket.write(chunk);
        return;
      }
      const queue = [...chunks];
      pacer = setInterval(() => {
        const next = queue.shift();
        if (next === undefined) clearInterval(pacer);
        else if (!socket.destroyed) socket.write(next);
      }, options.paceMs);
    });
  });
}

export interface ParsedResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Splits what a server wrote on one connection into responses (Content-Length framed or up to the end). */
export function parseResponses(text: string): ParsedResponse[] {
  const responses: ParsedResponse[] = [];
  let rest = text;
  while (rest.startsWith('HTTP/')) {
    const headEnd = rest.indexOf('\r\n\r\n');
    if (headEnd === -1) break;
    const [statusLine = '', ...lines] = rest.slice(0, headEnd).split('\r\n');
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const length = headers['content-length'] === undefined ? rest.length - headEnd - 4 : Number(headers['content-length']);
    const body = rest.slice(headEnd + 4, headEnd + 4 + length);
    responses.push({ status: Number(statusLine.split(' ')[1]), headers, body });
    rest = rest.slice(headEnd + 4 + length);
  }
  return responses;
}

const PROBLEM_CONTENT_TYPE = /^application\/problem\+json\s*(;|$)/;

/**
 * The invariant of every reply: never a 5xx, and every reply that is neither 2xx nor 304 is an
 * RFC 9457 problem whose type is in the catalog, with that type's title and the reply's status.
 * Returns what is wrong, or undefined.
 */
export function problemViolation(status: number, contentType: string | undefined, body: string, method = 'GET'): string | undefined {
  if (status >= 500) return `status ${status}`;
  if (status < 300 || status === 304) return undefined;
  if (method === 'HEAD') return undefined; // no body to judge
  if (!PROBLEM_CONTENT_TYPE.test(contentType ?? '')) return `status ${status} with Content-Type ${contentType ?? '(none)'}`;
  let document: unknown;
  try {
    document = JSON.parse(body);
  } catch {
    return `status ${status}: the problem body is not JSON: ${body.slice(0, 200)}`;
  }
  const { type, title, status: documentStatus } = (document ?? {}) as { type?: unknown; title?: unknown; status?: unknown };
  if (typeof type !== 'string' || !type.startsWith(PROBLEM_TYPE_BASE)) return `status ${status}: problem type ${String(type)}`;
  const slug = type.slice(PROBLEM_TYPE_BASE.length);
  const entry = (problemCatalog as Record<string, { status: number; title: string }>)[slug];
  if (!entry) return `status ${status}: problem type ${type} is not in the catalog`;
  if (entry.status !== status || documentStatus !== status) return `status ${status}: problem ${slug} says status ${String(documentStatus)}, the catalog ${entry.status}`;
  if (title !== entry.title) return `status ${status}: problem ${slug} has title ${String(title)}`;
  return undefined;
}

/**
 * Everything a request could change, in one statement: the rows of every tenant, account (balance,
 * version), context (state, version), webhook endpoint and the counts of the append-only tables.
 * Two equal snapshots mean nothing was written in between.
 */
export async function snapshotState(pool: pg.Pool, tenantId?: string): Promise<unknown> {
  const where = tenantId === undefined ? 'true' : 'tenant_id = $1';
  const tenantWhere = tenantId === undefined ? 'true' : 'id = $1';
  const keyWhere = tenantId === undefined ? 'true' : 'scope = $1';
  const { rows } = await pool.query<{ state: unknown }>(
    `SELECT json_build_object(
       'tenants', (SELECT json_agg(json_build_object('id', id, 'name', name, 'hash', encode(api_key_hash, 'hex')) ORDER BY id) FROM tenants WHERE ${tenantWhere}),
       'tenantCount', (SELECT count(*) FROM tenants WHERE ${tenantWhere}),
       'balanceSum', (SELECT coalesce(sum(balance), 0)::text FROM accounts WHERE ${where}),
       'accounts', (SELECT json_agg(json_build_object('id', id, 'name', name, 'balance', balance, 'version', version) ORDER BY id) FROM accounts WHERE ${where}),
       'contextsNotOpen', (SELECT count(*) FROM contexts WHERE state::text <> 'open' AND ${where}),
       'contexts', (SELECT json_agg(json_build_object('id', id, 'state', state, 'version', version) ORDER BY id) FROM contexts WHERE ${where}),
       'entries', (SELECT count(*) FROM entries WHERE ${where}),
       'payments', (SELECT count(*) FROM payments WHERE ${where}),
       'webhooks', (SELECT json_agg(json_build_object('id', id, 'url', url, 'secret', secret) ORDER BY id) FROM webhook_endpoints WHERE ${where}),
       'deliveries', (SELECT count(*) FROM webhook_deliveries WHERE ${where}),
       'idempotencyKeys', (SELECT count(*) FROM idempotency_keys WHERE ${keyWhere})
     ) AS state`,
    tenantId === undefined ? [] : [tenantId],
  );
  return rows[0]?.state;
}

/** The public tables and their row counts: a DROP or a mass DELETE shows here. */
export async function tableCounts(pool: pg.Pool): Promise<Record<string, number>> {
  const { rows } = await pool.query<{ name: string }>(`SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename`);
  const counts: Record<string, number> = {};
  for (const { name } of rows) {
    const result = await pool.query<{ count: string }>(`SELECT count(*)::text AS count FROM "${name.replace(/"/g, '""')}"`);
    counts[name] = Number(result.rows[0]?.count);
  }
  return counts;
}
