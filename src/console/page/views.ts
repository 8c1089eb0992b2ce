// The console's front page: find a context (by id, Idempotency-Key or tenant), what needs a
// person (parked, stuck, failing webhooks, the last audit's findings), the charts, the audit log.
import { act, ADMIN, ApiError, getJson, runAudit, type Attention, type AuditLog, type MinuteSeries, type OperatorContext, type OperatorContextList } from './api.js';
import { minuteChart } from './charts.js';
import { badge, clipped, h, replace, short, table, when } from './dom.js';

export const STATE_NAMES = ['open', 'processing', 'parked', 'succeeded', 'failed', 'cancelled', 'expired'] as const;
export const REQUEST_NAMES = ['replayed', 'precondition-failed', 'conflict'] as const;

export function contextHash(context: Pick<OperatorContext, 'tenantId' | 'id'>): string {
  return `#/tenants/${context.tenantId}/contexts/${context.id}`;
}

function contextLink(context: OperatorContext): HTMLElement {
  return h('a', { href: contextHash(context), 'data-context': context.id }, h('code', {}, short(context.id)));
}

/** Contexts as rows; `compact` (the attention lists, where every row is in the same state) leaves out tenant, state and recovery point. */
export function contextRows(contexts: OperatorContext[], empty: string, compact = false): HTMLElement {
  if (compact) {
    return table(['Context', 'Action', 'Attempts', 'Last error', 'Updated'], contexts.map((c) => [contextLink(c), c.type ?? '—', String(c.attempts), clipped(c.lastError ?? '', 120), when(c.updatedAt)]), empty);
  }
  return table(
    ['Context', 'Tenant', 'Action', 'State', 'Attempts', 'Recovery point', 'Last error', 'Updated'],
    contexts.map((c) => [contextLink(c), c.tenantName, c.type ?? '—', badge(c.state), String(c.attempts), c.recoveryPoint ?? '—', clipped(c.lastError ?? '', 90), when(c.updatedAt)]),
    empty,
  );
}

export function searchForm(tenants: { id: string; name: string }[], onResults: (element: HTMLElement) => void): HTMLElement {
  const by = h('select', { 'aria-label': 'find by', name: 'by' }, h('option', { value: 'id' }, 'Context id'), h('option', { value: 'idempotencyKey' }, 'Idempotency-Key'), h('option', { value: 'tenant' }, 'Tenant'));
  const text = h('input', { type: 'search', name: 'q', placeholder: 'context id or Idempotency-Key', 'aria-label': 'search' });
  const tenant = h('select', { name: 'tenant', 'aria-label': 'tenant', hidden: true }, ...tenants.map((t) => h('option', { value: t.id }, `${t.name} (${short(t.id)})`)));
  const state = h('select', { name: 'state', 'aria-label': 'state', hidden: true }, h('option', { value: '' }, 'any state'), ...STATE_NAMES.map((s) => h('option', { value: s }, s)));
  by.addEventListener('change', () => {
    const byTenant = by.value === 'tenant';
    text.hidden = byTenant;
    tenant.hidden = !byTenant;
    state.hidden = !byTenant;
  });
  const form = h('form', { class: 'search', role: 'search' }, by, text, tenant, state, h('button', { type: 'submit' }, 'Find'));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const query = new URLSearchParams();
    if (by.value === 'tenant') {
      query.set('tenant', tenant.value);
      if (state.value) query.set('state', state.value);
    } else query.set(by.value, text.value.trim());
    getJson<OperatorContextList>(`${ADMIN}/contexts?${query.toString()}`)
      .then((page) => {
        if (page.items.length === 1 && by.value !== 'tenant' && page.items[0]) location.hash = contextHash(page.items[0]);
        onResults(h('section', { class: 'results' }, h('h2', {}, `Found ${page.items.length}`), contextRows(page.items, 'No context matches.')));
      })
      .catch((error: unknown) => onResults(h('p', { class: 'message error' }, error instanceof ApiError ? error.message : String(error))));
  });
  return form;
}

export async function attentionView(onChange: () => void): Promise<HTMLElement> {
  const a = await getJson<Attention>(`${ADMIN}/attention`);
  const audit = h('button', { type: 'button', 'data-action': 'audit' }, 'Run audit now');
  audit.addEventListener('click', () => {
    audit.setAttribute('disabled', '');
    runAudit('').then(onChange, (error: unknown) => alert((error as Error).message)).finally(() => audit.removeAttribute('disabled'));
  });
  const findings = a.lastAudit
    ? table(['Kind', 'Action', 'Key / context', 'Charge'], a.lastAudit.findings.map((f) => [String(f['kind']), String(f['type'] ?? ''), String(f['contextId'] ?? f['key'] ?? ''), String(f['chargeId'] ?? '')]), `No findings in the audit of ${new Date(a.lastAudit.at).toLocaleString()}.`)
    : h('p', { class: 'empty' }, 'No audit has run yet.');
  const redeliver = (href: string, tag: string, button: HTMLElement) => {
    button.setAttribute('disabled', '');
    act(href, tag, '').then(onChange, (error: unknown) => {
      button.removeAttribute('disabled');
      alert(error instanceof ApiError && error.status === 412 ? 'That delivery changed since the page showed it; look again.' : (error as Error).message);
      onChange();
    });
  };
  const SHOWN = 8;
  const deliveries = table(
    ['Delivery', 'Attempts', 'Next attempt', 'Last error', ''],
    a.failingDeliveries.slice(0, SHOWN).map((d) => {
      const link = d._links['redeliver'];
      const button = h('button', { type: 'button', class: 'quiet', 'data-action': 'redeliver' }, 'Re-deliver');
      if (link) button.addEventListener('click', () => redeliver(link.href, d.entityTag, button));
      return [d.contextId ? h('a', { href: `#/tenants/${d.tenantId}/contexts/${d.contextId}` }, `#${d.id}`) : `#${d.id}`, String(d.attempts), d.nextAttemptAt ? when(d.nextAttemptAt) : 'none: out of attempts', clipped(d.lastError ?? '', 60), link ? button : null];
    }),
    'No delivery is failing.',
  );
  return h(
    'section',
    { class: 'attention', id: 'attention' },
    h('h2', {}, 'Needs attention'),
    h('h3', {}, `Parked jobs (${a.parked.length})`),
    contextRows(a.parked, 'No job is parked.', true),
    h('h3', {}, `Processing for more than ${Math.round(a.stuckAfterSeconds / 60)} min (${a.stuck.length})`),
    contextRows(a.stuck, 'Nothing is stuck.', true),
    h('h3', {}, `Failing webhook endpoints (${a.failingEndpoints.length})`),
    table(['Endpoint', 'Failing', 'Since', 'Last error'], a.failingEndpoints.map((e) => [e.url, String(e.failing), when(e.oldest), clipped(e.lastError ?? '', 90)]), 'Every endpoint is taking its deliveries.'),
    a.failingDeliveries.length > 0 ? h('h3', {}, `Failing deliveries${a.failingDeliveries.length > SHOWN ? ` (the ${SHOWN} most tried of ${a.failingDeliveries.length}${a.failingDeliveries.length >= 50 ? '+' : ''})` : ''}`) : null,
    a.failingDeliveries.length > 0 ? deliveries : null,
    h('h3', {}, 'Reconciliation findings'),
    findings,
    audit,
  );
}

export async function chartsView(width: number): Promise<HTMLElement> {
  const [states, requests] = await Promise.all([getJson<MinuteSeries>(`${ADMIN}/stats/contexts?minutes=60`), getJson<MinuteSeries>(`${ADMIN}/stats/requests?minutes=60`)]);
  return h(
    'section',
    { class: 'charts', id: 'charts' },
    h('h2', {}, 'Last hour'),
    minuteChart('Contexts by state', states, STATE_NAMES.filter((name) => states.series[name]), width),
    minuteChart('Replays, 412s and 409s per minute', requests, REQUEST_NAMES, width),
  );
}

export async function auditLogView(): Promise<HTMLElement> {
  const log = await getJson<AuditLog>(`${ADMIN}/audit-log?limit=20`);
  return h(
    'section',
    { class: 'audit-log', id: 'audit-log' },
    h('h2', {}, 'Audit log'),
    table(['When', 'Who', 'Action', 'Target', 'If-Match', 'Outcome'], log.items.map((e) => [when(e.at), e.actor, e.action, e.target, e.ifMatch ?? '', e.outcome]), 'No operator action yet.'),
  );
}

export function placeholder(target: HTMLElement, load: () => Promise<HTMLElement>): void {
  load().then(
    (element) => replace(target, element),
    (error: unknown) => replace(target, h('p', { class: 'message error' }, (error as Error).message)),
  );
}
