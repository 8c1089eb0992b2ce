// Small assertions for the rows: each throws a Mismatch that says what was expected and what came.
import type { Reply } from './http.ts';

export class Mismatch extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'Mismatch';
  }
}

export function check(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Mismatch(message);
}

const EXCERPT = 160;

/** `412 application/problem+json {"type":…}` — enough of an answer to see what went wrong. */
export function describe(reply: Reply): string {
  const type = reply.headers.get('content-type');
  const body = reply.text.length > EXCERPT ? `${reply.text.slice(0, EXCERPT)}…` : reply.text;
  return [String(reply.status), type ?? '(no Content-Type)', body].filter((part) => part !== '').join(' ');
}

/** The answer's status is one of `allowed`; `what` names the request in the message. */
export function expectStatus(reply: Reply, allowed: readonly number[], what: string): void {
  check(allowed.includes(reply.status), `${what}: expected ${allowed.join(' or ')}, got ${describe(reply)}`);
}

export function isSuccess(status: number): boolean {
  return status >= 200 && status < 300;
}

/** RFC 9110 §8.8.3: entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE; strong without the W/. */
const STRONG_TAG = /^"[\x21\x23-\x7e\x80-\xff]*"$/;

export function isStrongTag(tag: string | null): tag is string {
  return tag !== null && STRONG_TAG.test(tag);
}

/** The answer's strong ETag; a missing or weak one is a mismatch. */
export function strongETag(reply: Reply, what: string): string {
  const tag = reply.headers.get('etag');
  check(tag !== null, `${what}: expected a strong ETag, got no ETag header`);
  check(isStrongTag(tag), `${what}: expected a strong ETag ("…", no W/), got ETag: ${tag}`);
  return tag;
}

export function isReplayed(reply: Reply): boolean {
  return reply.headers.get('idempotent-replayed')?.trim().toLowerCase() === 'true';
}

export function expectReplayed(reply: Reply, what: string): void {
  const header = reply.headers.get('idempotent-replayed');
  check(isReplayed(reply), `${what}: expected Idempotent-Replayed: true, got ${header === null ? 'no such header' : `Idempotent-Replayed: ${header}`}`);
}

/** A member of a JSON object body, or undefined. */
export function member(json: unknown, name: string): unknown {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) return undefined;
  return (json as Record<string, unknown>)[name];
}

/** What is wrong with an error answer as RFC 9457 problem details, or undefined when nothing is. */
export function problemFault(reply: Reply): string | undefined {
  const type = reply.headers.get('content-type');
  const mediaType = type?.split(';')[0]?.trim().toLowerCase();
  if (mediaType !== 'application/problem+json') return `Content-Type ${type ?? '(none)'}, not application/problem+json`;
  if (reply.json === null || typeof reply.json !== 'object' || Array.isArray(reply.json)) return 'the body is not a JSON object';
  const faults: string[] = [];
  if (typeof member(reply.json, 'type') !== 'string') faults.push('no string "type"');
  if (typeof member(reply.json, 'title') !== 'string') faults.push('no string "title"');
  const status = member(reply.json, 'status');
  if (status !== reply.status) faults.push(`"status" is ${JSON.stringify(status) ?? 'absent'}, not ${reply.status}`);
  return faults.length === 0 ? undefined : faults.join(', ');
}

/** The answer has the status and is problem+json. */
export function expectProblem(reply: Reply, status: number, what: string): void {
  expectStatus(reply, [status], what);
  const fault = problemFault(reply);
  check(fault === undefined, `${what}: expected ${status} application/problem+json, got ${fault ?? ''}`);
}
