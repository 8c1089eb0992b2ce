// GET /docs: the API reference, rendered in the browser from /openapi.yaml by Scalar's standalone
// bundle (@scalar/api-reference), which this service serves itself from node_modules. The page
// loads nothing from anywhere else: no CDN, no web fonts, no telemetry, no AI agent, and its
// Content-Security-Policy holds the browser to that.
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { gzip } from 'node:zlib';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import Router from '@koa/router';
import type { AuthState } from './auth.ts';
import { ProblemError } from './problems.ts';

export const DOCS_PATH = '/docs';
/** The bundle, under /docs so that the page and its script are public together. */
export const DOCS_SCRIPT_PATH = '/docs/api-reference.js';

const require = createRequire(import.meta.url);

/**
 * Where Scalar's bundle is, found on the first request for /docs — not when the module loads: an
 * application that embeds the engine loads this file (through the router) without having the docs
 * page's 80 MB installed. Undefined when the package is not installed.
 */
let located: { file: string; version: string } | null | undefined;
function bundleLocation(): { file: string; version: string } | undefined {
  if (located === undefined) {
    try {
      const file = require.resolve('@scalar/api-reference/browser/standalone.js');
      // The package exports the bundle but not its package.json: read it next to the bundle (dist/browser/).
      const version = (JSON.parse(readFileSync(new URL('../../package.json', pathToFileURL(file)), 'utf8')) as { version: string }).version;
      located = { file, version };
    } catch {
      located = null;
    }
  }
  return located ?? undefined;
}

/**
 * Scalar's options (data-configuration). Off: the web fonts it would fetch from its CDN, its
 * telemetry, the AI agent, the developer toolbar (its "share" uploads the document). The document
 * comes from this origin, and "Test request" goes to this origin too (`servers` here overrides the
 * document's first entry, http://localhost:3000, which generated clients use), no proxy.
 */
const CONFIGURATION = {
  url: '/openapi.yaml',
  servers: [{ url: '/', description: 'this server' }],
  withDefaultFonts: false,
  telemetry: false,
  agent: { disabled: true },
  showDeveloperTools: 'never',
  showToolbar: 'never',
  defaultOpenAllTags: true,
  metaData: { title: 'Idempotence service — API reference' },
};

/**
 * Only this origin. Scalar's components set inline styles; no inline script is needed (the
 * configuration is an attribute) and no eval (zod probes for it and does without).
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "worker-src 'self' blob:",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
  "form-action 'none'",
].join('; ');

const escapeAttribute = (text: string): string =>
  text.replaceAll('&', '&amp;').replaceAll('"', '&quot;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');

export const docsHtml = (bundleVersion: string): string => `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>Idempotence service — API reference</title>
  </head>
  <body>
    <noscript>The API reference needs JavaScript. The document itself is at <a href="/openapi.yaml">/openapi.yaml</a>.</noscript>
    <script id="api-reference" data-url="/openapi.yaml" data-configuration="${escapeAttribute(JSON.stringify(CONFIGURATION))}"></script>
    <script src="${DOCS_SCRIPT_PATH}?v=${bundleVersion}"></script>
  </body>
</html>
`;

interface Bundle {
  plain: Buffer;
  gzipped: Buffer;
  etag: string;
}

let bundle: Promise<Bundle> | undefined;
function loadBundle(location: { file: string; version: string }): Promise<Bundle> {
  if (!bundle) {
    bundle = (async () => {
      const plain = await readFile(location.file);
      return { plain, gzipped: await promisify(gzip)(plain), etag: `"scalar-${location.version}"` };
    })();
    // A failed read is not kept: the next request tries again.
    bundle.catch(() => {
      bundle = undefined;
    });
  }
  return bundle;
}

/** GET /docs and its script; both public (see PUBLIC_PATHS). */
export function docsRoutes(): Router<Partial<AuthState>> {
  const router = new Router<Partial<AuthState>>();

  const notInstalled = (): never => {
    throw new ProblemError('not-found', 'The API reference page needs the @scalar/api-reference package, which is not installed here; the document is at /openapi.yaml.');
  };

  router.get(DOCS_PATH, (ctx) => {
    const location = bundleLocation() ?? notInstalled();
    ctx.set('Content-Security-Policy', CONTENT_SECURITY_POLICY);
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('Referrer-Policy', 'no-referrer');
    ctx.set('Cache-Control', 'no-cache');
    ctx.type = 'text/html; charset=utf-8';
    ctx.body = docsHtml(location.version);
  });

  router.get(DOCS_SCRIPT_PATH, async (ctx) => {
    const { plain, gzipped, etag } = await loadBundle(bundleLocation() ?? notInstalled());
    ctx.set('ETag', etag);
    ctx.set('Cache-Control', 'public, max-age=86400');
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.vary('Accept-Encoding');
    ctx.type = 'text/javascript; charset=utf-8';
    // RFC 9110 §13.1.2, weak comparison. (Not ctx.fresh: it answers "stale" to the
    // Cache-Control: no-cache that fetch() adds to every conditional request.)
    const noneMatch = ctx.get('If-None-Match').split(',').map((tag) => tag.trim().replace(/^W\//, ''));
    if (noneMatch.includes(etag) || noneMatch.includes('*')) {
      ctx.status = 304;
      return;
    }
    if (ctx.acceptsEncodings('gzip', 'identity') === 'gzip') {
      ctx.set('Content-Encoding', 'gzip');
      ctx.body = gzipped;
    } else {
      ctx.body = plain;
    }
  });

  return router;
}
