// API keys found are trusted for AUTH_CACHE_TTL_SECONDS; unknown keys are never remembered.
import test from 'ava';
import { generateApiKey, hashApiKey } from '../../src/tenants/api-keys.ts';
import { replaceApiKeyHash } from '../../src/tenants/repository.ts';
import { startTestServer } from '../helpers/server.ts';

test('a key used a moment ago keeps working until the cache forgets it; with a TTL of 0 it stops at once', async (t) => {
  for (const ttl of [1, 0]) {
    const server = await startTestServer({ config: { adminToken: undefined, contextTtlSeconds: 60, authCacheTtlSeconds: ttl } });
    try {
      const tenant = server.tenant;
      t.is((await tenant.request('GET', '/accounts')).status, 200);
      await replaceApiKeyHash(server.database.db, tenant.id, hashApiKey(generateApiKey()));
      const right = await tenant.request('GET', '/accounts');
      t.is(right.status, ttl > 0 ? 200 : 401, `ttl ${ttl}: just after the key was replaced`);
      if (ttl > 0) {
        await new Promise((resolve) => setTimeout(resolve, ttl * 1000 + 100));
        t.is((await tenant.request('GET', '/accounts')).status, 401, 'forgotten after the TTL');
      }
      const unknown = generateApiKey();
      t.is((await tenant.request('GET', '/accounts', { key: unknown })).status, 401);
      t.is((await tenant.request('GET', '/accounts', { key: unknown })).status, 401, 'an unknown key is looked up again, never cached');
    } finally {
      await server.close();
    }
  }
});
