// What a write request that touched a context came to, as the console's timeline and its
// per-minute chart name it. Pure: every row of the table is a unit test (test/operations/).
//
//   replayed (Idempotent-Replayed: true)  replayed — whatever the status
//   412                                   precondition-failed (RFC 9110 §15.5.13: the tag was stale)
//   428                                   precondition-required (RFC 6585 §3: no If-Match / If-None-Match)
//   409                                   conflict (another request holds the context, or its state refuses)
//   202                                   accepted (an asynchronous action: a worker finishes it)
//   2xx on POST …/contexts                created (an open context, nothing executed yet)
//   2xx on DELETE                         cancelled
//   other 2xx                             executed
//   429                                   rate-limited
//   other 4xx                             refused
//   5xx                                   error

export const REQUEST_OUTCOMES = [
  'executed',
  'accepted',
  'created',
  'cancelled',
  'replayed',
  'precondition-failed',
  'precondition-required',
  'conflict',
  'rate-limited',
  'refused',
  'error',
] as const;
export type RequestOutcome = (typeof REQUEST_OUTCOMES)[number];

export interface AnsweredRequest {
  method: string;
  /** The route template ('/contexts/:id'), never the raw path. */
  route: string;
  status: number;
  replayed: boolean;
}

/** Methods that can change a context; reads (and long-polls) are not in a timeline. */
export function isWriteMethod(method: string): boolean {
  return method !== 'GET' && method !== 'HEAD' && method !== 'OPTIONS';
}

export function requestOutcome(request: AnsweredRequest): RequestOutcome {
  const { status } = request;
  if (request.replayed) return 'replayed';
  if (status >= 500) return 'error';
  if (status === 412) return 'precondition-failed';
  if (status === 428) return 'precondition-required';
  if (status === 409) return 'conflict';
  if (status === 429) return 'rate-limited';
  if (status >= 400) return 'refused';
  if (status === 202) return 'accepted';
  if (request.method === 'DELETE') return 'cancelled';
  if (request.method === 'POST' && request.route.endsWith('/contexts')) return 'created';
  return 'executed';
}
