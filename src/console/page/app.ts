// The operator console's entry: sign in with the admin token (or take it from the #token=…
// fragment `npm start` prints, which never reaches a server log), then the front page and, for
// #/tenants/<tenant>/contexts/<id>, that context. Everything comes from the admin API.
import { ADMIN, ApiError, getJson, operatorName, saveOperatorName, savedToken, saveToken, type TenantList } from './api.js';
import { contextDetail, type DetailView } from './detail.js';
import { h, replace } from './dom.js';
import { attentionView, auditLogView, chartsView, placeholder, searchForm } from './views.js';

const root = document.getElementById('console') as HTMLElement;
const CONTEXT_ROUTE = /^#\/tenants\/([0-9a-f-]{36})\/contexts\/([0-9a-f-]{36})$/i;

function takeTokenFromFragment(): void {
  const match = /^#token=(.+)$/.exec(location.hash);
  if (!match?.[1]) return;
  saveToken(decodeURIComponent(match[1]));
  history.replaceState(null, '', location.pathname);
}

function signIn(problem?: string): void {
  const token = h('input', { type: 'password', name: 'token', autocomplete: 'off', placeholder: 'ADMIN_TOKEN', 'aria-label': 'admin token', required: true });
  const form = h('form', { class: 'sign-in' }, h('h1', {}, 'Operator console'), h('p', {}, 'Sign in with the service’s ADMIN_TOKEN (kept in this tab only).'), token, h('button', { type: 'submit' }, 'Sign in'), problem ? h('p', { class: 'message error' }, problem) : null);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    saveToken(token.value.trim());
    void start();
  });
  replace(root, form);
}

async function start(): Promise<void> {
  let tenants: TenantList;
  try {
    tenants = await getJson(`${ADMIN}/tenants`);
  } catch (error) {
    saveToken(null);
    signIn(error instanceof ApiError && error.status === 401 ? 'That is not the admin token.' : (error as Error).message);
    return;
  }
  const operator = h('input', { type: 'text', value: operatorName(), placeholder: 'your name', 'aria-label': 'your name (for the audit log)' });
  operator.addEventListener('change', () => saveOperatorName(operator.value));
  const signOut = h('button', { type: 'button', class: 'quiet' }, 'Sign out');
  signOut.addEventListener('click', () => {
    saveToken(null);
    signIn();
  });
  const results = h('div', { id: 'results' });
  const detail = h('div', { id: 'detail' });
  const attention = h('div', {}, h('p', { class: 'empty' }, 'Loading…'));
  const charts = h('div', {}, h('p', { class: 'empty' }, 'Loading…'));
  const audit = h('div');
  replace(
    root,
    h('header', {}, h('h1', {}, h('a', { href: '#' }, 'Operator console')), h('span', { class: 'grow' }), operator, signOut),
    searchForm(tenants.items, (element) => replace(results, element)),
    results,
    detail,
    h('div', { class: 'columns' }, attention, charts),
    audit,
  );

  const chartWidth = () => Math.max(280, Math.min(560, Math.floor(root.clientWidth / 2) - 48));
  const refreshOverview = () => {
    placeholder(attention, () => attentionView(refreshOverview));
    placeholder(charts, () => chartsView(chartWidth()));
    placeholder(audit, auditLogView);
  };

  let shown: DetailView | undefined;
  let polling: number | undefined;
  const showRoute = () => {
    window.clearTimeout(polling);
    const match = CONTEXT_ROUTE.exec(location.hash);
    if (!match?.[1] || !match[2]) {
      shown = undefined;
      replace(detail);
      return;
    }
    const view = contextDetail(match[1].toLowerCase(), match[2].toLowerCase());
    shown = view;
    replace(detail, view.element);
    // While it is processing, look again every 1.5 s: the operator sees a retried job finish.
    const poll = async () => {
      const active = await view.refresh();
      if (shown === view && active) polling = window.setTimeout(() => void poll(), 1_500);
      if (!active) refreshOverview();
    };
    void poll();
  };
  window.addEventListener('hashchange', showRoute);
  showRoute();
  refreshOverview();
  window.setInterval(refreshOverview, 15_000);
}

takeTokenFromFragment();
if (savedToken()) void start();
else signIn();
