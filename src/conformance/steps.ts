// Steps several rows share: create a context, execute the action on it, the request bodies.
import { check, describe, expectStatus, isSuccess, member, strongETag } from './expect.ts';
import type { Reply } from './http.ts';
import type { Kit } from './types.ts';

export interface Created {
  id: string;
  /** Relative to the base: `/contexts/{id}`. */
  path: string;
  etag: string;
  /** The `version` member of the representation, when it has a numeric one. */
  version: number | undefined;
  reply: Reply;
}

export function actionBody(kit: Kit): string {
  return JSON.stringify({ action: kit.action });
}

/** A body with another action, or (weak form) the same action with one member more. */
export function otherBody(kit: Kit): string {
  return JSON.stringify(kit.weak ? { action: kit.action, ttlSeconds: 3600 } : { action: kit.otherAction });
}

export function versionOf(reply: Reply): number | undefined {
  const version = member(reply.json, 'version');
  return typeof version === 'number' ? version : undefined;
}

/** The context's id from the representation, else from the Location header. */
function idOf(reply: Reply): string | undefined {
  const id = member(reply.json, 'id');
  if (typeof id === 'string' && id !== '') return id;
  const location = reply.headers.get('location');
  if (location === null) return undefined;
  const last = new URL(location, 'http://base.invalid/').pathname.split('/').filter((part) => part !== '').pop();
  return last === undefined ? undefined : decodeURIComponent(last);
}

/** POST /contexts → 201 with an id and a strong ETag. */
export async function createContext(kit: Kit, what = 'setup: POST /contexts'): Promise<Created> {
  const reply = await kit.client.request('POST', kit.client.contextPath());
  expectStatus(reply, [201], what);
  const etag = strongETag(reply, what);
  const id = idOf(reply);
  check(id !== undefined, `${what}: expected the new context's id (body "id" or Location), got ${describe(reply)}`);
  return { id, path: kit.client.contextPath(id), etag, version: versionOf(reply), reply };
}

export interface Executed {
  created: Created;
  /** The answer to the PUT that executed the action (200, or 202 for an asynchronous action). */
  reply: Reply;
  body: string;
}

/** A new context with the action executed on it by PUT with If-Match. */
export async function executedContext(kit: Kit, what = 'setup: PUT with If-Match and the action'): Promise<Executed> {
  const created = await createContext(kit);
  const body = actionBody(kit);
  const reply = await kit.client.request('PUT', created.path, { headers: { 'If-Match': created.etag }, body });
  check(isSuccess(reply.status), `${what}: expected 200 or 202, got ${describe(reply)}`);
  return { created, reply, body };
}
