// API keys: random (256 bits from the CSPRNG, base64url), stored only as their SHA-256, and never
// compared in a way whose time depends on the secret.
//
// Where the comparisons happen, and why they leak nothing:
//   - a tenant's API key is never compared at all: src/http/auth.ts hashes the presented key
//     (hashApiKey, SHA-256) and looks the hash up by equality on the unique index of
//     tenants.api_key_hash (findTenantByKeyHash). Timing can at most reveal something about a
//     hash the caller chose, and a preimage of a 256-bit key's hash is out of reach.
//   - the admin token is compared in src/http/admin-auth.ts (for POST /tenants and every /admin/…
//     route) with secretsEqual
//     (src/tenants/api-keys.ts): both sides are hashed to 32 bytes and compared with
//     crypto.timingSafeEqual, so neither the position of the first difference nor the length of
//     the token shows in the time taken.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import test from 'ava';
import { bearerToken, generateApiKey, hashApiKey, secretsEqual } from '../../src/tenants/api-keys.ts';
import { ADMIN_TOKEN, at, send, withTestServer } from '../helpers/server.ts';

const server = withTestServer(test);

const KEY = /^idem_([A-Za-z0-9_-]{43})$/;

test('API keys are 256 random bits in base64url, and never the same twice', (t) => {
  const keys = Array.from({ length: 2_000 }, () => generateApiKey());
  t.is(new Set(keys).size, keys.length, 'all different');
  let ones = 0;
  for (const key of keys) {
    const match = KEY.exec(key);
    t.truthy(match, key);
    const encoded = match?.[1] ?? '';
    const bytes = Buffer.from(encoded, 'base64url');
    t.is(bytes.length, 32, '256 bits');
    t.is(bytes.toString('base64url'), encoded, 'canonical base64url');
    for (const byte of bytes) for (let bit = 0; bit < 8; bit++) ones += (byte >> bit) & 1;
  }
  // 512,000 bits: a fair source gives 50 % ones within ±0.2 % (about 3 standard deviations);
  // a constant, a counter or a timestamp would not.
  const share = ones / (keys.length * 256);
  t.true(Math.abs(share - 0.5) < 0.002, `share of one bits ${share}`);
});

/** Every column of every public table, as text. */
async function everyStoredValue(): Promise<string> {
  const pool = server.database.pool;
  const { rows: tables } = await pool.query<{ name: string }>(`SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public'`);
  let text = '';
  for (const { name } of tables) {
    const { rows } = await pool.query<{ row: string }>(`SELECT to_jsonb(t)::text AS row FROM "${name.replace(/"/g, '""')}" t`);
    text += rows.map((row) => row.row).join('\n');
  }
  return text;
}

test('API keys are stored only as their SHA-256: no table holds a key, in any form', async (t) => {
  const keys: { id: string; key: string }[] = [];
  const created = await server.request('POST', '/tenants', { key: ADMIN_TOKEN, body: { name: 'stored' } });
  keys.push({ id: at(created.json, 'id'), key: at(created.json, 'apiKey') });
  // Through an Idempotency-Key, whose record is kept: its replay hands out a new key.
  const keyed = { key: ADMIN_TOKEN, body: { name: 'keyed' }, headers: { 'idempotency-key': 'tenant-1' } };
  const first = await server.request('POST', '/tenants', keyed);
  const replay = await server.request('POST', '/tenants', keyed);
  t.is(replay.headers.get('idempotent-replayed'), 'true');
  keys.push({ id: at(first.json, 'id'), key: at(first.json, 'apiKey') }, { id: at(replay.json, 'id'), key: at(replay.json, 'apiKey') });
  keys.push({ id: server.tenant.id, key: server.tenant.apiKey });

  const stored = await everyStoredValue();
  t.true(stored.includes(at(created.json, 'id')), 'the scan sees the tenants table');
  for (const { key } of keys) {
    t.regex(key, KEY);
    const secret = key.slice('idem_'.length);
    for (const form of [key, secret, Buffer.from(secret, 'base64url').toString('hex'), Buffer.from(secret, 'base64url').toString('base64')]) {
      t.false(stored.includes(form), `a form of an API key is stored: ${form.slice(0, 12)}…`);
    }
  }
  // What is stored is exactly SHA-256(key), the value the authentication looks up.
  const current = [keys[0], keys[2], keys[3]].filter((entry) => entry !== undefined);
  for (const { id, key } of current) {
    const { rows } = await server.database.pool.query<{ hash: Buffer }>('SELECT api_key_hash AS hash FROM tenants WHERE id = $1', [id]);
    t.deepEqual(rows[0]?.hash, createHash('sha256').update(key).digest());
    t.is((await send(server.base, 'GET', '/contexts', { key })).status, 200);
  }
  t.is((await send(server.base, 'GET', '/contexts', { key: keys[1]?.key ?? '' })).status, 401, 'the key of a lost answer stops working once replayed');
});

test('secret comparison: hashes first, so any two lengths compare without error or early exit', (t) => {
  t.true(secretsEqual(ADMIN_TOKEN, ADMIN_TOKEN));
  for (const other of ['', 'x', ADMIN_TOKEN.slice(0, -1), `${ADMIN_TOKEN}x`, ADMIN_TOKEN.toUpperCase(), 'x'.repeat(10_000)]) {
    t.false(secretsEqual(other, ADMIN_TOKEN), JSON.stringify(other.slice(0, 40)));
  }
  t.is(hashApiKey('anything').length, 32);
  t.is(bearerToken(`Bearer ${ADMIN_TOKEN}`), ADMIN_TOKEN);
  t.is(bearerToken(`bearer   ${ADMIN_TOKEN}  `), ADMIN_TOKEN);
  for (const header of [undefined, '', 'Bearer', `Basic ${ADMIN_TOKEN}`, `Bearer ${ADMIN_TOKEN} x`, `Bearer\t${ADMIN_TOKEN}`]) t.is(bearerToken(header), undefined, String(header));
});

test('no secret is compared with ==: keys by hash lookup, the admin token through timingSafeEqual (source guard)', async (t) => {
  // A regression guard for the comparison sites named at the top of this file.
  const apiKeys = await readFile('src/tenants/api-keys.ts', 'utf8');
  t.regex(apiKeys, /timingSafeEqual\(hashApiKey\(a\), hashApiKey\(b\)\)/);
  const auth = await readFile('src/http/auth.ts', 'utf8');
  // Looked up (and cached) by the key's hash, never by the key itself.
  t.regex(auth, /const hash = hashApiKey\(token\);[\s\S]*known\?\.get\(cacheKey\)[\s\S]*findTenantByKeyHash\(db, hash\)/);
  // Every admin route (POST /tenants, /admin/…) checks the token in one place.
  const adminAuth = await readFile('src/http/admin-auth.ts', 'utf8');
  t.regex(adminAuth, /secretsEqual\(token, adminToken\)/);
  t.regex(await readFile('src/tenants/routes.ts', 'utf8'), /asAdministrator\(ctx, adminToken, limits/);
  t.regex(await readFile('src/operations/routes.ts', 'utf8'), /router\.use\(\(ctx, next\) => asAdministrator\(ctx, deps\.adminToken, deps\.limits, next\)\)/);
  const comparisons = [...adminAuth.matchAll(/(?:[!=]==?\s*adminToken\b|\badminToken\s*[!=]==?(?!=)(?!\s*undefined))/g)];
  t.deepEqual(comparisons.map((match) => match[0]), [], 'the admin token is compared only through secretsEqual');
  for (const file of ['src/http/auth.ts', 'src/http/admin-auth.ts', 'src/tenants/routes.ts', 'src/tenants/repository.ts', 'src/operations/routes.ts']) {
    const text = await readFile(file, 'utf8');
    t.false(/\b(?:token|apiKey|api_key)\s*[!=]==?\s*(?!undefined)\w/.test(text), `${file} compares a key with ==`);
  }
});
