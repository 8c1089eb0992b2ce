// Elements built from text only (textContent, never innerHTML): everything the console shows —
// errors, URLs, names — may have come from a client, and none of it may become markup.

type Child = Node | string | number | null | undefined | false;
type Attributes = Record<string, string | boolean | ((event: Event) => void) | undefined>;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attributes: Attributes = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === false) continue;
    if (typeof value === 'function') element.addEventListener(name.replace(/^on/, ''), value);
    else if (value === true) element.setAttribute(name, '');
    else element.setAttribute(name, value);
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    element.append(typeof child === 'number' ? String(child) : child);
  }
  return element;
}

export function table(headings: string[], rows: Child[][], empty: string): HTMLElement {
  if (rows.length === 0) return h('p', { class: 'empty' }, empty);
  return h(
    'table',
    {},
    h('thead', {}, h('tr', {}, ...headings.map((heading) => h('th', {}, heading)))),
    h('tbody', {}, ...rows.map((cells) => h('tr', {}, ...cells.map((cell) => h('td', {}, cell))))),
  );
}

/** "3 min ago", "in 20 s": times relative to now, with the exact time as the tooltip. */
export function when(iso: string | null): Node {
  if (iso === null) return document.createTextNode('—');
  const seconds = Math.round((Date.parse(iso) - Date.now()) / 1000);
  const size = Math.abs(seconds);
  const text = size < 60 ? `${size} s` : size < 3600 ? `${Math.round(size / 60)} min` : size < 172_800 ? `${Math.round(size / 3600)} h` : `${Math.round(size / 86_400)} d`;
  return h('time', { datetime: iso, title: new Date(iso).toLocaleString() }, seconds <= 0 ? `${text} ago` : `in ${text}`);
}

export function badge(state: string): HTMLElement {
  return h('span', { class: `badge state-${state.replace(/[^a-z-]/g, '')}` }, state);
}

export function short(id: string): string {
  return id.length > 13 ? `${id.slice(0, 8)}…` : id;
}

/** Long text cut to `length` characters, the whole of it in the tooltip. */
export function clipped(text: string, length: number): Node {
  if (text.length <= length) return document.createTextNode(text);
  return h('span', { title: text }, `${text.slice(0, length - 1)}…`);
}

export function json(value: unknown): HTMLElement {
  return h('pre', { class: 'json' }, JSON.stringify(value, null, 2));
}

export function replace(target: Element, ...children: Child[]): void {
  target.replaceChildren(...children.filter((child): child is Node | string => child !== null && child !== undefined && child !== false).map((child) => (typeof child === 'number' ? String(child) : child)));
}
