// GET /console: the operator console, a page that uses only the admin API (/admin/…, with the
// ADMIN_TOKEN the operator signs in with). The page and its scripts are public — they hold no
// data — and come from this service: its own modules (src/console/page/, compiled to JavaScript
// by the build, or on first request from the TypeScript source in development) and uPlot's
// bundle from node_modules for the charts. No CDN, nothing from anywhere else (see the CSP).
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Router, { type RouterContext } from '@koa/router';
import { ProblemError } from '../http/problems.ts';

export const CONSOLE_PATH = '/console';
const PAGE_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'page');
/** The page's own modules, by the name the browser asks for. */
export const CONSOLE_MODULES = ['app', 'api', 'dom', 'views', 'detail', 'charts'] as const;
const require = createRequire(import.meta.url);

const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  // uPlot sizes its canvas and legend with style attributes.
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
  "form-action 'none'",
].join('; ');

const html = (root: string): string => `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>Operator console — idempotence service</title>
    <!-- An icon of its own: a browser would otherwise ask for /favicon.ico, which is no route here. -->
    <link rel="icon" href="data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'%3E%3Ccircle cx='8' cy='8' r='7' fill='%231d4ed8'/%3E%3C/svg%3E">
    <link rel="stylesheet" href="${root}/uplot.css">
    <link rel="stylesheet" href="${root}/console.css">
    <script src="${root}/uplot.js"></script>
    <script type="module" src="${root}/app.js"></script>
  </head>
  <body>
    <noscript>The console needs JavaScript. Everything it shows is in the admin API (/admin/…, see /docs).</noscript>
    <main id="console"></main>
  </body>
</html>
`;

/** A module of the page as JavaScript: the build's output when there is one, else the source transpiled once. */
const compiled = new Map<string, Promise<string>>();
function pageModule(name: string): Promise<string> {
  let text = compiled.get(name);
  if (!text) {
    text = (async () => {
      const built = path.join(PAGE_DIR, `${name}.js`);
      if (existsSync(built)) return readFile(built, 'utf8');
      // Development (tsx): TypeScript is installed with the dev dependencies.
      const { default: ts } = await import('typescript');
      const source = await readFile(path.join(PAGE_DIR, `${name}.ts`), 'utf8');
      return ts.transpileModule(source, { compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ES2022 } }).outputText;
    })();
    text.catch(() => compiled.delete(name));
    compiled.set(name, text);
  }
  return text;
}

function staticAsset(name: string): { file: string; type: string } | undefined {
  if (name === 'console.css') return { file: path.join(PAGE_DIR, 'console.css'), type: 'text/css; charset=utf-8' };
  if (name === 'uplot.js') return { file: require.resolve('uplot/dist/uPlot.iife.min.js'), type: 'text/javascript; charset=utf-8' };
  if (name === 'uplot.css') return { file: require.resolve('uplot/dist/uPlot.min.css'), type: 'text/css; charset=utf-8' };
  return undefined;
}

/**
 * GET <basePath>/console and its files. The page finds the admin API beside itself
 * (<basePath>/admin), so a host may mount both under a prefix of its own.
 */
export function consoleRoutes(basePath = ''): Router {
  const router = new Router();
  const root = `${basePath}${CONSOLE_PATH}`;
  const headers = (ctx: RouterContext) => {
    ctx.set('Content-Security-Policy', CONTENT_SECURITY_POLICY);
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('Referrer-Policy', 'no-referrer');
    ctx.set('Cache-Control', 'no-cache');
  };
  router.get(root, (ctx) => {
    headers(ctx);
    ctx.type = 'text/html; charset=utf-8';
    ctx.body = html(root);
  });
  router.get(`${root}/:asset`, async (ctx) => {
    const asset = ctx.params['asset'] ?? '';
    headers(ctx);
    const module = /^([a-z]+)\.js$/.exec(asset)?.[1];
    if (module && (CONSOLE_MODULES as readonly string[]).includes(module)) {
      ctx.type = 'text/javascript; charset=utf-8';
      ctx.body = await pageModule(module);
      return;
    }
    const found = staticAsset(asset);
    if (!found) throw new ProblemError('not-found', `The console has no file "${asset}".`);
    ctx.type = found.type;
    ctx.body = await readFile(found.file);
  });
  return router;
}
