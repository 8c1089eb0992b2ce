// Requests to the test server (with the admin token unless told otherwise), every reply checked
// against openapi.yaml; `done()` fails the test if any did not match.
import type { ExecutionContext } from 'ava';
import { checkReply } from './spec.ts';
import { ADMIN_TOKEN, type Reply, type RequestOptions, type TestServer } from './server.ts';

export function specCaller(t: ExecutionContext, target: () => TestServer) {
  const problems: string[] = [];
  const call = async (method: string, template: string, path: string, options: RequestOptions = {}): Promise<Reply> => {
    const reply = await target().request(method, path, { ...options, key: options.key === undefined ? ADMIN_TOKEN : options.key });
    problems.push(...checkReply(method, template, reply));
    return reply;
  };
  return { call, done: () => t.deepEqual(problems, [], 'every reply matches openapi.yaml') };
}
