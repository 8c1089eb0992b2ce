// Only committed outcomes are recorded: a request that fails before its commit leaves no trace,
// and its retry with the same key executes exactly once.
import { randomUUID } from 'node:crypto';
import test from 'ava';
import { withTestServer } from '../helpers/server.ts';

let failNext = 0;
const server = withTestServer(test, {
  async onTerminalState() {
    if (failNext > 0) {
      failNext--;
      throw new Error('injected failure before commit');
    }
  },
});

test('a retry after an injected failure before commit executes exactly once; the 500 is never replayed', async (t) => {
  const account = await server.tenant.createAccount();
  const key = randomUUID();
  const body = { action: { type: 'deposit', account, amount: 40 } };
  failNext = 1;
  const failed = await server.tenant.request('POST', '/contexts', { headers: { 'idempotency-key': key }, body });
  t.is(failed.status, 500);
  t.is(failed.headers.get('content-type'), 'application/problem+json');
  t.is(await server.tenant.balance(account), 0, 'nothing committed');
  const retry = await server.tenant.request('POST', '/contexts', { headers: { 'idempotency-key': key }, body });
  t.is(retry.status, 201);
  t.is(retry.headers.get('idempotent-replayed'), null, 'executed, not replayed');
  const again = await server.tenant.request('POST', '/contexts', { headers: { 'idempotency-key': key }, body });
  t.is(again.headers.get('idempotent-replayed'), 'true');
  t.is(await server.tenant.balance(account), 40);
});
