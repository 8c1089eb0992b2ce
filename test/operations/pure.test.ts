// The console's pure decisions, row by row: what a request's answer is called, how a batch is
// counted per minute, how If-Match on an operator action reads, and why a refusal happened.
import test from 'ava';
import { minuteCounts, type JournalEvent } from '../../src/operations/journal.ts';
import { requestOutcome, type RequestOutcome } from '../../src/operations/outcomes.ts';
import { toMinuteSeries } from '../../src/operations/stats.ts';
import { explainRefusal, rowCondition, rowEntityTag } from '../../src/protocol/operator-preconditions.ts';

const rows: [method: string, route: string, status: number, replayed: boolean, outcome: RequestOutcome][] = [
  ['PUT', '/contexts/:id', 200, true, 'replayed'],
  ['PUT', '/contexts/:id', 202, true, 'replayed'],
  ['PUT', '/contexts/:id', 412, false, 'precondition-failed'],
  ['PUT', '/contexts/:id', 428, false, 'precondition-required'],
  ['PUT', '/contexts/:id', 409, false, 'conflict'],
  ['PUT', '/contexts/:id', 429, false, 'rate-limited'],
  ['PUT', '/contexts/:id', 422, false, 'refused'],
  ['PUT', '/contexts/:id', 503, false, 'error'],
  ['PUT', '/contexts/:id', 202, false, 'accepted'],
  ['PUT', '/contexts/:id', 200, false, 'executed'],
  ['PUT', '/contexts/:id', 201, false, 'executed'],
  ['POST', '/contexts', 201, false, 'created'],
  ['POST', '/deposits', 201, false, 'executed'],
  ['DELETE', '/contexts/:id', 200, false, 'cancelled'],
];
for (const [method, route, status, replayed, outcome] of rows) {
  test(`${method} ${route} → ${status}${replayed ? ' (replayed)' : ''} is "${outcome}"`, (t) => {
    t.is(requestOutcome({ method, route, status, replayed }), outcome);
  });
}

test('a batch is counted per minute, tenant and outcome, in key order; phases are not requests', (t) => {
  const event = (at: string, tenantId: string, outcome: string, kind: JournalEvent['kind'] = 'request'): JournalEvent => ({ tenantId, contextId: tenantId, at: new Date(at), kind, outcome, detail: {} });
  const counts = minuteCounts([
    event('2026-12-02T10:00:59Z', 'b', 'replayed'),
    event('2026-12-02T10:00:01Z', 'a', 'replayed'),
    event('2026-12-02T10:00:30Z', 'b', 'replayed'),
    event('2026-12-02T10:01:00Z', 'a', 'replayed'),
    event('2026-12-02T10:00:10Z', 'a', 'next', 'phase'),
  ]);
  t.deepEqual(
    counts.map((c) => `${c.minute.toISOString().slice(11, 16)} ${c.tenantId} ${c.outcome} ${c.count}`),
    ['10:00 a replayed 1', '10:00 b replayed 2', '10:01 a replayed 1'],
  );
});

test('minute series: one column per minute up to now, zeros filled in, rows outside the window left out', (t) => {
  const now = new Date('2026-12-02T10:02:30Z');
  const series = toMinuteSeries(
    [
      { minute: new Date('2026-12-02T10:00:00Z'), name: 'conflict', count: 2 },
      { minute: new Date('2026-12-02T10:02:00Z'), name: 'conflict', count: 1 },
      { minute: new Date('2026-12-02T09:00:00Z'), name: 'replayed', count: 9 },
    ],
    3,
    now,
  );
  t.deepEqual(series.minutes, ['2026-12-02T10:00:00.000Z', '2026-12-02T10:01:00.000Z', '2026-12-02T10:02:00.000Z']);
  t.deepEqual(series.series, { conflict: [2, 0, 1] });
});

test('If-Match on an operator action: strong row tags only, * for any, nothing is a precondition required', (t) => {
  t.is(rowEntityTag('123'), '"r123"');
  t.is(rowCondition(undefined), undefined);
  t.deepEqual(rowCondition('*'), { any: true });
  t.deepEqual(rowCondition('"r1", W/"r2", "x3", "r4"'), { any: false, xmins: ['1', '4'] });
  t.deepEqual(rowCondition('garbage'), { any: false, xmins: [] });
  // What the clock changed is in the tag (a GET must not answer 304 for it), the row is the xmin.
  t.is(rowEntityTag('7', ['expired', 'free']), '"r7-expired-free"');
  t.deepEqual(rowCondition('"r7-free"'), { any: false, xmins: ['7'] });
});

test('a refusal is explained from the row as it is now: gone, changed, or not applicable', (t) => {
  t.deepEqual(explainRefusal('"r5"', undefined), { kind: 'not-found' });
  t.deepEqual(explainRefusal('"r5"', '6'), { kind: 'stale', current: '"r6"' });
  t.deepEqual(explainRefusal('W/"r6"', '6'), { kind: 'stale', current: '"r6"' });
  t.deepEqual(explainRefusal('"r6"', '6'), { kind: 'not-applicable' });
  t.deepEqual(explainRefusal('*', '6'), { kind: 'not-applicable' });
  t.deepEqual(explainRefusal('"r6-free"', '6'), { kind: 'not-applicable' });
});
