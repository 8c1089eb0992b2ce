// What the DBOS peer (bench/dbos-peer.ts) and the bench that enqueues for it (bench/dbos-drain.ts)
// agree on: the application, queue and workflow names, and the workflow's input.

export const DBOS_APPLICATION = 'bench-dbos-payments';
export const DBOS_QUEUE = 'payments';
export const DBOS_WORKFLOW = 'payment';

export interface DbosPayment {
  account: string;
  amount: number;
  currency: string;
  source: string;
}
