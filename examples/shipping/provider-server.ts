// A fake shipping provider with the faults real ones have, for the example's tests and for
// `npm run example:shipping:provider`. Its contract:
//   POST /shipments  Idempotency-Key + {"orderId","address"} → 201 {"id","orderId","address"};
//                    the same key again → 200 with the same shipment; 422 for an order it will
//                    never serve; 400 without a key or with a malformed body.
//   GET /shipments/{key} → the shipment created under that key, or 404.
// Faults (rates from 0 to 1, changeable while it runs): a 500 after creating the shipment, a hang
// that then drops the connection after creating it, a 503 before creating anything.
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Shipment {
  id: string;
  orderId: string;
  address: string;
}

export interface ProviderFaults {
  failAfterCreateRate: number;
  hangAfterCreateRate: number;
  refuseBeforeCreateRate: number;
  /** How long a hang lasts before the connection is dropped. */
  hangMs: number;
  /** Orders whose id matches are refused for good (422). */
  refuseOrders: RegExp;
}

export interface ProviderStats {
  requests: number;
  created: number;
  faults: { failedAfterCreate: number; hungAfterCreate: number; refusedBeforeCreate: number; refusedOrders: number };
}

export interface RunningProvider {
  url: string;
  faults: ProviderFaults;
  stats: ProviderStats;
  /** Shipments by Idempotency-Key. */
  shipments: Map<string, Shipment>;
  /** How many shipments each order got: exactly once means 1 each. */
  shipmentsPerOrder(): Map<string, number>;
  close(): Promise<void>;
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': status >= 400 ? 'application/problem+json' : 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function readBody(req: http.IncomingMessage): Promise<unknown> {
  let text = '';
  for await (const chunk of req) text += String(chunk);
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export async function startShippingProvider(options: { port?: number; host?: string; faults?: Partial<ProviderFaults> } = {}): Promise<RunningProvider> {
  const faults: ProviderFaults = { failAfterCreateRate: 0, hangAfterCreateRate: 0, refuseBeforeCreateRate: 0, hangMs: 2_000, refuseOrders: /^refuse-/, ...options.faults };
  const stats: ProviderStats = { requests: 0, created: 0, faults: { failedAfterCreate: 0, hungAfterCreate: 0, refusedBeforeCreate: 0, refusedOrders: 0 } };
  const shipments = new Map<string, Shipment>();
  const hanging = new Set<NodeJS.Timeout>();

  const server = http.createServer((req, res) => {
    void (async () => {
      stats.requests++;
      const url = new URL(req.url ?? '/', 'http://provider');
      const byKey = /^\/shipments\/([^/]+)$/.exec(url.pathname);
      if (req.method === 'GET' && byKey?.[1]) {
        const shipment = shipments.get(decodeURIComponent(byKey[1]));
        return shipment ? send(res, 200, shipment) : send(res, 404, { title: 'No shipment under this key', status: 404 });
      }
      if (req.method !== 'POST' || url.pathname !== '/shipments') return send(res, 404, { title: 'Not found', status: 404 });
      const key = req.headers['idempotency-key'];
      const body = (await readBody(req)) as { orderId?: unknown; address?: unknown } | undefined;
      if (typeof key !== 'string' || key === '' || typeof body?.orderId !== 'string' || typeof body.address !== 'string') {
        return send(res, 400, { title: 'Send Idempotency-Key and {"orderId","address"}', status: 400 });
      }
      // A 503 comes before anything is looked at: a repeated key may get one too.
      if (Math.random() < faults.refuseBeforeCreateRate) {
        stats.faults.refusedBeforeCreate++;
        return send(res, 503, { title: 'Try again later', status: 503 });
      }
      const existing = shipments.get(key);
      if (existing) return send(res, 200, existing);
      if (faults.refuseOrders.test(body.orderId)) {
        stats.faults.refusedOrders++;
        return send(res, 422, { title: 'This order cannot be shipped', status: 422, detail: `order ${body.orderId} is refused` });
      }
      const shipment: Shipment = { id: `shp_${randomUUID()}`, orderId: body.orderId, address: body.address };
      shipments.set(key, shipment);
      stats.created++;
      if (Math.random() < faults.failAfterCreateRate) {
        stats.faults.failedAfterCreate++;
        return send(res, 500, { title: 'Internal error', status: 500 });
      }
      if (Math.random() < faults.hangAfterCreateRate) {
        stats.faults.hungAfterCreate++;
        const timer = setTimeout(() => {
          hanging.delete(timer);
          req.socket.destroy();
        }, faults.hangMs);
        hanging.add(timer);
        return;
      }
      send(res, 201, shipment);
    })();
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${options.host ?? '127.0.0.1'}:${port}`,
    faults,
    stats,
    shipments,
    shipmentsPerOrder() {
      const counts = new Map<string, number>();
      for (const shipment of shipments.values()) counts.set(shipment.orderId, (counts.get(shipment.orderId) ?? 0) + 1);
      return counts;
    },
    async close() {
      for (const timer of hanging) clearTimeout(timer);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
