// Test servers with request limits (src/http/rate-limits.ts), every limit off unless a test turns it on.
import type { ExecutionContext } from 'ava';
import type { RateLimitSettings } from '../../src/config.ts';
import type { AppDeps } from '../../src/app.ts';
import { ADMIN_TOKEN, startTestServer, type Reply, type TestServer } from './server.ts';

export const LIMITS_OFF: RateLimitSettings = {
  tenantRequestsPerSecond: 0,
  tenantConcurrency: 0,
  adminRequestsPerSecond: 0,
  adminConcurrency: 0,
  windowSeconds: 1,
  concurrencyWaitMs: 0,
  authFailures: 0,
  authFailureWindowSeconds: 1,
};

/** A server of the test's own with these limits, closed when the test ends. */
export async function limitedServer(t: ExecutionContext, limits: Partial<RateLimitSettings>, config: Partial<AppDeps['config']> = {}): Promise<TestServer> {
  const server = await startTestServer({ config: { adminToken: ADMIN_TOKEN, contextTtlSeconds: 600, ...config, rateLimits: { ...LIMITS_OFF, ...limits } } });
  t.teardown(() => server.close());
  return server;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits out a 429's Retry-After (whole seconds), plus a margin. */
export async function waitRetryAfter(reply: Reply): Promise<void> {
  await sleep(Number(reply.headers.get('retry-after') ?? '1') * 1000 + 150);
}
