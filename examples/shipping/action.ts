// `ship-order`: an asynchronous action on the engine's phase API. The PUT answers 202; a worker
// then runs two phases:
//   create-shipment  (external)       POST {provider}/shipments with the phase's idempotency key;
//   record           (transactional)  this service's own `shipments` row, and the final result.
// Whatever the provider does — answer 500 after creating, hang and drop the connection, answer
// 503 — the phase answers retry and the next attempt sends the same key, so the provider ships
// each order once. A 422 is the provider's final no: the context ends failed.
import { sql, type Kysely } from 'kysely';
import {
  defineAsyncAction,
  done,
  externalPhase,
  fail,
  next,
  retry,
  transactionalPhase,
  type Database,
  type PhaseResult,
} from '../../src/index.ts';

export interface ShipOrder {
  type: 'ship-order';
  orderId: string;
  address: string;
}

/** This service's own table, written in the engine's transaction by the `record` phase. */
export interface ShippingTables {
  shipments: { tenant_id: string; context_id: string; order_id: string; shipment_id: string; address: string };
}
export type ShippingDatabase = Database & ShippingTables;

export async function migrateShipping(db: Kysely<Database>): Promise<void> {
  await sql`CREATE TABLE IF NOT EXISTS shipments (
    tenant_id   uuid NOT NULL,
    context_id  uuid NOT NULL,
    order_id    text NOT NULL,
    shipment_id text NOT NULL UNIQUE,
    address     text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, context_id))`.execute(db);
}

export const SHIPMENT_REFUSED = 'https://shipping.example/problems/shipment-refused';

function parseShipment(value: unknown): { id: string } | undefined {
  const id = (value as { id?: unknown } | null)?.id;
  return typeof id === 'string' && id !== '' ? { id } : undefined;
}

export function shipOrderAction(options: { providerUrl: string; timeoutMs?: number }) {
  const base = options.providerUrl.replace(/\/+$/, '');
  const timeoutMs = options.timeoutMs ?? 5_000;
  const request = async (path: string, init: RequestInit, signal: AbortSignal) => {
    const response = await fetch(base + path, { ...init, signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]) });
    const text = await response.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: response.status, json, text };
  };

  return defineAsyncAction<ShipOrder, ShippingDatabase>({
    type: 'ship-order',
    schema: {
      type: 'object',
      required: ['type', 'orderId', 'address'],
      properties: {
        type: { const: 'ship-order' },
        orderId: { type: 'string', minLength: 1, maxLength: 64 },
        address: { type: 'string', minLength: 1, maxLength: 200 },
      },
      additionalProperties: false,
    },
    phases: [
      externalPhase<ShipOrder>('create-shipment', async ({ action, key, signal }): Promise<PhaseResult> => {
        let reply;
        try {
          reply = await request('/shipments', {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'idempotency-key': key },
            body: JSON.stringify({ orderId: action.orderId, address: action.address }),
          }, signal);
        } catch (error) {
          // No answer (timeout, dropped connection): the shipment may exist. Ask again, same key.
          return retry(`no answer from the provider: ${(error as Error).message}`);
        }
        const shipment = parseShipment(reply.json);
        if ((reply.status === 200 || reply.status === 201) && shipment) return next({ shipmentId: shipment.id });
        if (reply.status === 422) {
          return fail({ type: SHIPMENT_REFUSED, title: 'The provider will not ship this order', status: 422, detail: `Order ${action.orderId}: ${reply.text.slice(0, 300)}` });
        }
        return retry(`provider answered ${reply.status}`);
      }),
      transactionalPhase<ShipOrder, ShippingDatabase>('record', async (trx, { scope, action, outputs }) => {
        const { shipmentId } = outputs['create-shipment'] as { shipmentId: string };
        await trx
          .insertInto('shipments')
          .values({ tenant_id: scope.tenantId, context_id: scope.contextId, order_id: action.orderId, shipment_id: shipmentId, address: action.address })
          .execute();
        return done({ shipmentId, orderId: action.orderId });
      }),
    ],
    // Reconciliation: the provider can say what a key created, without creating anything.
    async reconcile({ key, signal }) {
      const reply = await request(`/shipments/${encodeURIComponent(key)}`, { method: 'GET' }, signal).catch(() => undefined);
      const shipment = parseShipment(reply?.json);
      if (reply?.status === 200 && shipment) return next({ shipmentId: shipment.id });
      if (reply?.status === 404) return retry('the provider has no shipment under this key');
      return undefined;
    },
  });
}
