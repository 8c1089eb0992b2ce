// The generated SDK with its retrying executeAction: a card payment executed exactly once, however
// often the network fails on the way (docs/clients.md; type-checked in CI).
//   KEY=idem_… npx tsx examples/sdk-payment.ts
import { fileURLToPath } from 'node:url';
import { createIdempotenceClient, executeAction, ProblemError } from '../sdk/index.ts';

export async function payBob(baseUrl: string, apiKey: string): Promise<void> {
  const api = createIdempotenceClient({ baseUrl, apiKey });
  const { data: bob } = await api.POST('/accounts', { body: { name: 'Bob', currency: 'EUR' } });
  if (!bob) throw new Error('could not open the account');
  try {
    const { context, replayed, attempts } = await executeAction(api, {
      action: { type: 'payment', account: bob.id, amount: 1999, source: 'tok_ok' },
      retry: { attempts: 5, baseDelayMs: 250 },
    });
    console.log(context.state, context.result, { replayed, attempts });
  } catch (error) {
    if (error instanceof ProblemError) console.error(error.status, error.type, error.detail); // 4xx: never retried
    else throw error;
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await payBob(process.env['BASE'] ?? 'http://127.0.0.1:3000', process.env['KEY'] ?? '');
