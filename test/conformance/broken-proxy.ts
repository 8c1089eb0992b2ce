// A mutating HTTP proxy in front of the real server, to prove the conformance kit notices a
// broken one. Each mode breaks one promise of the protocol; `pass` breaks nothing.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export type ProxyMode = 'pass' | 'replay-409' | 'weak-etag' | 'no-etag' | 'double-execute' | 'replay-5xx';

export interface BrokenProxy {
  /** The proxy's base URL, with the prefix when one was given. */
  base: string;
  close(): Promise<void>;
}

interface Answer {
  status: number;
  headers: Record<string, string | string[]>;
  body: Buffer;
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'host']);

function problem(status: number, title: string): Answer {
  const body = Buffer.from(JSON.stringify({ type: 'https://broken.example/problems/broken', title, status }));
  return { status, headers: { 'content-type': 'application/problem+json' }, body };
}

function readBody(stream: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
  });
}

function forward(target: URL, agent: http.Agent, request: http.IncomingMessage, path: string, body: Buffer): Promise<Answer> {
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(request.headers)) if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = value;
  if (body.length > 0) headers['content-length'] = String(body.length);
  return new Promise((resolve, reject) => {
    const upstream = http.request({ host: target.hostname, port: target.port, method: request.method, path, headers, agent }, (response) => {
      readBody(response).then((answer) => {
        const kept: Record<string, string | string[]> = {};
        for (const [name, value] of Object.entries(response.headers)) if (value !== undefined && !HOP_BY_HOP.has(name)) kept[name] = value;
        resolve({ status: response.statusCode ?? 502, headers: kept, body: answer });
      }, reject);
    });
    upstream.on('error', reject);
    upstream.end(body);
  });
}

function jsonObject(body: Buffer): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(body.toString('utf8'));
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** A server that executes duplicates: a repeat answers 200, not replayed, with a version one higher each time. */
function executedAgain(answer: Answer, repeats: number): Answer {
  const representation = jsonObject(answer.body);
  if (answer.status >= 300 || representation === undefined || typeof representation['version'] !== 'number') return answer;
  const version = representation['version'] + repeats;
  const body = Buffer.from(JSON.stringify({ ...representation, version }));
  return { status: 200, headers: { ...answer.headers, etag: `"${version}"` }, body };
}

export async function startBrokenProxy(targetBase: string, mode: ProxyMode, prefix = ''): Promise<BrokenProxy> {
  const target = new URL(targetBase);
  const agent = new http.Agent({ keepAlive: true });
  const putsSeen = new Map<string, number>();
  const failedKeys = new Map<string, Answer>();

  async function answer(request: http.IncomingMessage): Promise<Answer> {
    const body = await readBody(request);
    const url = request.url ?? '/';
    if (!url.startsWith(prefix)) return problem(404, 'Outside the prefix');
    const path = url.slice(prefix.length) || '/';
    const method = request.method ?? 'GET';

    if (mode === 'replay-5xx' && method === 'POST' && path === '/contexts') {
      const key = request.headers['idempotency-key'];
      if (typeof key === 'string' && jsonObject(body)?.['action'] !== undefined) {
        // The first keyed one-shot fails with a 500 that is then replayed for the key forever.
        const recorded = failedKeys.get(key);
        if (recorded) return { ...recorded, headers: { ...recorded.headers, 'idempotent-replayed': 'true' } };
        const failed = problem(500, 'Internal server error');
        failedKeys.set(key, failed);
        return failed;
      }
    }
    let repeats = 0;
    if (mode === 'double-execute' && method === 'PUT') {
      const seen = `${path}\n${body.toString('utf8')}`;
      repeats = putsSeen.get(seen) ?? 0;
      putsSeen.set(seen, repeats + 1);
    }

    let reply = await forward(target, agent, request, path, body);
    const replayed = reply.headers['idempotent-replayed'] === 'true';
    switch (mode) {
      case 'pass':
        break;
      case 'replay-409':
        if (replayed) reply = problem(409, 'Conflict');
        break;
      case 'weak-etag': {
        const tag = reply.headers['etag'];
        if (typeof tag === 'string') reply.headers['etag'] = `W/${tag}`;
        break;
      }
      case 'no-etag':
        delete reply.headers['etag'];
        break;
      case 'double-execute':
        delete reply.headers['idempotent-replayed'];
        if (repeats > 0) reply = executedAgain(reply, repeats);
        break;
      case 'replay-5xx':
        break;
    }
    return reply;
  }

  const server = http.createServer((request, response) => {
    answer(request).then(
      (reply) => {
        response.writeHead(reply.status, { ...reply.headers, ...(reply.status === 304 || reply.status === 204 ? {} : { 'content-length': String(reply.body.length) }) });
        response.end(reply.status === 304 || reply.status === 204 ? undefined : reply.body);
      },
      (error: unknown) => {
        const failed = problem(502, `Proxy: ${error instanceof Error ? error.message : String(error)}`);
        response.writeHead(failed.status, { ...failed.headers, 'content-length': String(failed.body.length) });
        response.end(failed.body);
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    base: `http://127.0.0.1:${port}${prefix}`,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
}
