import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import { generateApiKey, hashApiKey } from './api-keys.ts';
import { findTenantByKeyHash, findTenantByName, insertTenant, replaceApiKeyHash } from './repository.ts';

export const DEV_TENANT_NAME = 'dev';

/**
 * Development only: makes sure a tenant named "dev" exists and returns a key that works for it.
 * Keys are stored only as hashes, so the plain key is kept in the git-ignored data folder to be
 * printed again on the next start; if that file is lost, the dev key is replaced.
 */
export async function ensureDevTenant(db: Kysely<Database>, dataDir: string, fixedKey?: string): Promise<string> {
  const keyFile = path.join(dataDir, 'dev-api-key');
  const saved = fixedKey ?? (existsSync(keyFile) ? (await readFile(keyFile, 'utf8')).trim() : undefined);
  if (saved && (await findTenantByKeyHash(db, hashApiKey(saved)))?.name === DEV_TENANT_NAME) return saved;
  const key = saved ?? generateApiKey();
  const existing = await findTenantByName(db, DEV_TENANT_NAME);
  if (existing) await replaceApiKeyHash(db, existing.id, hashApiKey(key));
  else await insertTenant(db, DEV_TENANT_NAME, hashApiKey(key));
  if (!fixedKey) {
    await mkdir(dataDir, { recursive: true });
    await writeFile(keyFile, `${key}\n`, { mode: 0o600 });
  }
  return key;
}

/**
 * Development only, when ADMIN_TOKEN is not set: an admin token for the operator console and the
 * admin API, made once and kept (mode 0600) in the git-ignored data folder, printed at start.
 */
export async function ensureDevAdminToken(dataDir: string): Promise<string> {
  const tokenFile = path.join(dataDir, 'dev-admin-token');
  const saved = existsSync(tokenFile) ? (await readFile(tokenFile, 'utf8')).trim() : '';
  if (saved.length >= 16) return saved;
  const token = `adm_${generateApiKey()}`;
  await mkdir(dataDir, { recursive: true });
  await writeFile(tokenFile, `${token}\n`, { mode: 0o600 });
  return token;
}
