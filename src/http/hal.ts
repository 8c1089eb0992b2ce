// HAL (draft-kelly-json-hal): links live in `_links`, collections in `_embedded`.
export interface Link {
  href: string;
  title?: string;
}

export type Links = Record<string, Link>;

export function link(href: string, title?: string): Link {
  return title === undefined ? { href } : { href, title };
}
