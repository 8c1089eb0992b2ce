// The shipping service: a Koa app that embeds the context engine with one action of its own,
// `ship-order`, for one tenant whose API key comes from its configuration.
import Koa from 'koa';
import type pg from 'pg';
import { pino, type Logger } from 'pino';
import { ActionRegistry, createContextEngine, ensureTenant, type ContextEngine } from '../../src/index.ts';
import { migrateShipping, shipOrderAction } from './action.ts';

export interface ShippingOptions {
  pool: pg.Pool;
  providerUrl: string;
  logger?: Logger;
}

export function shippingActions(providerUrl: string): ActionRegistry {
  return new ActionRegistry().register(shipOrderAction({ providerUrl }));
}

export function createShippingEngine(options: ShippingOptions): ContextEngine {
  return createContextEngine({
    pool: options.pool,
    actions: shippingActions(options.providerUrl),
    logger: options.logger ?? pino({ level: 'info' }),
  });
}

/** Migrates (the engine's tables and this service's), makes sure the tenant of `apiKey` exists, and builds the app. */
export async function createShippingApp(options: ShippingOptions & { apiKey: string }): Promise<{ app: Koa; engine: ContextEngine; tenantId: string }> {
  const engine = createShippingEngine(options);
  await engine.migrate();
  await migrateShipping(engine.db);
  const tenant = await ensureTenant(engine.db, 'shipping', options.apiKey);
  const app = new Koa();
  app.use(async (ctx, nextMiddleware) => {
    if (ctx.path === '/healthz') {
      ctx.body = { status: 'ok' };
      return;
    }
    await nextMiddleware();
  });
  app.use(engine.middleware).use(engine.router.routes()).use(engine.router.allowedMethods());
  return { app, engine, tenantId: tenant.id };
}
