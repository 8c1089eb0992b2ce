// One context: what it is now, its timeline (requests, phases, operator actions, webhooks), and
// the actions that apply — each sent with the entity tag this view was drawn from, so an action
// on a page that has gone stale is refused (412) and the view is drawn again from the new row.
import { act, ADMIN, ApiError, getJson, type Delivery, type OperatorContext, type Timeline, type TimelineEntry } from './api.js';
import { badge, h, json, replace, table, when } from './dom.js';

function describe(entry: TimelineEntry): string {
  switch (entry.kind) {
    case 'request': {
      const d = entry.detail;
      return `${d.method} ${d.route} → ${d.status}${d.keyed ? ' (Idempotency-Key)' : ''}`;
    }
    case 'phase': {
      const d = entry.detail;
      return `phase ${d.phase} (${d.kind}), attempt ${d.attempt} → recovery point ${d.recoveryPoint}${d.error ? `: ${d.error}` : ''}`;
    }
    case 'operator': {
      const d = entry.detail;
      return `${d.actor}${d.reason ? ` — “${d.reason}”` : ''}`;
    }
    case 'webhook': {
      const d = entry.detail;
      return `${d.eventType} to ${d.url}, ${d.attempts} attempt(s)${d.lastError ? `: ${d.lastError}` : ''}`;
    }
    default:
      return '';
  }
}

function timelineList(entries: TimelineEntry[]): HTMLElement {
  return h(
    'ol',
    { class: 'timeline' },
    ...entries.map((entry) =>
      h('li', { class: `entry kind-${entry.kind} outcome-${entry.outcome.replace(/[^a-z-]/g, '')}` }, when(entry.at), ' ', h('strong', {}, `${entry.kind}: ${entry.outcome}`), ' ', describe(entry)),
    ),
  );
}

export interface DetailView {
  element: HTMLElement;
  /** Draws it again from the service; true while the context is still processing. */
  refresh(): Promise<boolean>;
}

export function contextDetail(tenantId: string, id: string): DetailView {
  const element = h('section', { class: 'detail', id: 'context-detail' });
  const message = h('p', { class: 'message', role: 'status' });
  const reason = h('input', { type: 'text', placeholder: 'reason (goes to the audit log)', 'aria-label': 'reason' });
  const path = `${ADMIN}/tenants/${tenantId}/contexts/${id}`;

  const say = (text: string, kind: 'ok' | 'error') => {
    message.textContent = text;
    message.className = `message ${kind}`;
  };

  const perform = async (label: string, href: string, tag: string) => {
    try {
      const result = await act<{ outcome?: string }>(href, tag, reason.value);
      say(`${label}: ${result.outcome ?? 'done'}.`, 'ok');
    } catch (error) {
      if (error instanceof ApiError && error.status === 412) say(`${label} refused: this context changed since the page showed it (now ${error.etag ?? 'another version'}). It is shown again as it is now — look before you act.`, 'error');
      else say(`${label} failed: ${(error as Error).message}`, 'error');
    }
    await view.refresh();
  };

  const actions = (context: OperatorContext): HTMLElement => {
    const buttons: HTMLElement[] = [];
    const retry = context._links['retry'];
    const reconcile = context._links['reconcile'];
    if (retry) buttons.push(h('button', { type: 'button', 'data-action': 'retry', title: retry.title ?? '', onclick: () => void perform('Retry', retry.href, context.entityTag) }, 'Retry now'));
    if (reconcile) buttons.push(h('button', { type: 'button', 'data-action': 'reconcile', title: reconcile.title ?? '', onclick: () => void perform('Reconcile', reconcile.href, context.entityTag) }, 'Reconcile'));
    if (buttons.length === 0) return h('p', { class: 'empty' }, 'No action applies to this context now.');
    return h('div', { class: 'actions' }, ...buttons, reason);
  };

  const deliveries = (rows: Delivery[]): HTMLElement =>
    table(
      ['Delivery', 'Event', 'Endpoint', 'Attempts', 'Delivered', 'Last error', ''],
      rows.map((row) => {
        const redeliver = row._links['redeliver'];
        return [
          String(row.id), row.eventType, row.url, String(row.attempts), when(row.deliveredAt), row.lastError ?? '',
          redeliver ? h('button', { type: 'button', 'data-action': 'redeliver', onclick: () => void perform('Re-deliver', redeliver.href, row.entityTag) }, 'Re-deliver') : null,
        ];
      }),
      'No webhook deliveries (the tenant has no endpoints, or the context has not ended).',
    );

  const view: DetailView = {
    element,
    async refresh() {
      let timeline: Timeline;
      try {
        timeline = await getJson<Timeline>(`${path}/timeline`);
      } catch (error) {
        replace(element, h('h2', {}, 'Context'), h('p', { class: 'message error' }, (error as Error).message));
        return false;
      }
      const c = timeline.context;
      replace(
        element,
        h('h2', {}, 'Context ', h('code', {}, c.id), ' ', badge(c.state)),
        h(
          'dl',
          { class: 'facts' },
          ...([
            ['Tenant', `${c.tenantName} (${c.tenantId})`],
            ['Action', c.type ?? '—'],
            ['Version', String(c.version)],
            ['Attempts', String(c.attempts)],
            ['Recovery point', c.recoveryPoint ?? '—'],
            ['Due', c.runAfter ? when(c.runAfter) : c.state === 'parked' ? 'parked: not due until retried' : '—'],
            ['Held by', c.lockedBy ? `${c.lockedBy} until ${new Date(c.lockedUntil ?? '').toLocaleTimeString()}` : 'nobody'],
            ['Last error', c.lastError ?? '—'],
            ['Idempotency-Key', c.idempotencyKey ?? '—'],
            ['Created', when(c.createdAt)],
            ['Updated', when(c.updatedAt)],
            ['Entity tag', h('code', { 'data-etag': c.entityTag }, c.entityTag)],
          ] as [string, Node | string][]).flatMap(([term, value]) => [h('dt', {}, term), h('dd', {}, value)]),
        ),
        actions(c),
        message,
        h('h3', {}, 'Timeline'),
        timelineList(timeline.entries),
        h('h3', {}, 'Webhook deliveries'),
        deliveries(timeline.deliveries),
        h('details', {}, h('summary', {}, 'Action, result, error and phase outputs'), json({ action: c.action, result: c.result, error: c.error, phaseOutputs: c.phaseOutputs })),
      );
      return c.state === 'processing' || c.state === 'parked';
    },
  };
  return view;
}
