// A real HTTP server on an ephemeral port over a database of the test file's own.
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { createApp, type AppDeps } from '../../src/app.ts';
import { createHttpServer, type HttpServerOptions } from '../../src/http/server.ts';
import { generateApiKey, hashApiKey } from '../../src/tenants/api-keys.ts';
import { insertTenant } from '../../src/tenants/repository.ts';
import { createTestDatabase, type TestDatabase } from './database.ts';

export const ADMIN_TOKEN = 'test-admin-token-0123456789';

export interface Reply {
  status: number;
  headers: Headers;
  text: string;
  /** Parsed JSON body, or undefined when there is none; read it with `at`. */
  json: unknown;
}

/** Reads a member path out of parsed JSON (`at(reply.json, '_links', 'self', 'href')`); undefined when absent. */
export function at<T = string>(value: unknown, ...path: (string | number)[]): T {
  let current: unknown = value;
  for (const key of path) {
    if (current === null || typeof current !== 'object') return undefined as T;
    current = (current as Record<string | number, unknown>)[key];
  }
  return current as T;
}

export interface RequestOptions {
  headers?: Record<string, string>;
  /** An object is sent as JSON; a string is sent as it is. */
  body?: unknown;
  /** Overrides the tenant key; null sends no Authorization header. */
  key?: string | null;
}

export interface TenantClient {
  id: string;
  apiKey: string;
  request(method: string, path: string, options?: RequestOptions): Promise<Reply>;
  createAccount(currency?: string, name?: string): Promise<string>;
  /** Creates a context, returns its id and ETag. */
  createContext(ttlSeconds?: number): Promise<{ id: string; etag: string }>;
  /** Deposits through a fresh context (create + PUT). */
  deposit(account: string, amount: number): Promise<Reply>;
  balance(account: string): Promise<number>;
}

export interface TestServer {
  base: string;
  /** The listening server (its limits come from src/http/server.ts, as in production). */
  server: http.Server;
  database: TestDatabase;
  tenant: TenantClient;
  newTenant(name?: string): Promise<TenantClient>;
  request(method: string, path: string, options?: RequestOptions): Promise<Reply>;
  close(): Promise<void>;
}

export async function send(base: string, method: string, path: string, options: RequestOptions = {}): Promise<Reply> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.key) headers['authorization'] = `Bearer ${options.key}`;
  let body: string | undefined;
  if (typeof options.body === 'string') body = options.body;
  else if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers['content-type'] ??= 'application/json';
  }
  const response = await fetch(base + path, { method, headers, ...(body === undefined ? {} : { body }) });
  const text = await response.text();
  let json: unknown;
  try {
    json = text === '' ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, text, json };
}

function tenantClient(base: string, id: string, apiKey: string): TenantClient {
  const client: TenantClient = {
    id,
    apiKey,
    request: (method, path, options = {}) =>
      send(base, method, path, { ...options, key: options.key === undefined ? apiKey : options.key }),
    async createAccount(currency = 'EUR', name = 'test account') {
      const reply = await client.request('POST', '/accounts', { body: { name, currency } });
      if (reply.status !== 201) throw new Error(`createAccount: ${reply.status} ${reply.text}`);
      return at(reply.json, 'id');
    },
    async createContext(ttlSeconds) {
      const reply = await client.request('POST', '/contexts', ttlSeconds === undefined ? {} : { body: { ttlSeconds } });
      if (reply.status !== 201) throw new Error(`createContext: ${reply.status} ${reply.text}`);
      return { id: at(reply.json, 'id'), etag: reply.headers.get('etag') ?? '' };
    },
    async deposit(account, amount) {
      const context = await client.createContext();
      return client.request('PUT', `/contexts/${context.id}`, {
        headers: { 'if-match': context.etag },
        body: { action: { type: 'deposit', account, amount } },
      });
    },
    async balance(account) {
      const reply = await client.request('GET', `/accounts/${account}`);
      return at<number>(reply.json, 'balance');
    },
  };
  return client;
}

export async function startTestServer(overrides: Partial<AppDeps> = {}, httpOptions: HttpServerOptions = {}): Promise<TestServer> {
  const database = await createTestDatabase();
  const logger = pino({ level: 'silent' });
  const app = createApp({
    pool: database.pool,
    db: database.db,
    config: { adminToken: ADMIN_TOKEN, contextTtlSeconds: 86_400 },
    logger,
    ...overrides,
  });
  const server = createHttpServer(app, httpOptions);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const newTenant = async (name = 'tenant'): Promise<TenantClient> => {
    const apiKey = generateApiKey();
    const tenant = await insertTenant(database.db, name, hashApiKey(apiKey));
    return tenantClient(base, tenant.id, apiKey);
  };

  return {
    base,
    server,
    database,
    tenant: await newTenant('main'),
    newTenant,
    request: (method, path, options) => send(base, method, path, options),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await database.drop();
    },
  };
}

/**
 * One server for the whole test file: started before the first test, closed after the last.
 * The returned object stands for the server once it has started.
 */
export function withTestServer(
  registerHooks: { before(fn: () => Promise<void>): void; after: { always(fn: () => Promise<void>): void } },
  overrides: Partial<AppDeps> = {},
  httpOptions: HttpServerOptions = {},
): TestServer {
  let started: TestServer | undefined;
  registerHooks.before(async () => {
    started = await startTestServer(overrides, httpOptions);
  });
  registerHooks.after.always(async () => {
    await started?.close();
  });
  return new Proxy({} as TestServer, {
    get(_target, property) {
      if (!started) throw new Error('the test server is not started yet (use it inside a test)');
      return Reflect.get(started, property);
    },
  });
}
