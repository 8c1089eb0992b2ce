// RFC 9457 problem details. Every problem this service can answer is in this one catalog, with
// a stable type URI; openapi.yaml lists the same types (a test keeps the two in step).

export const PROBLEM_TYPE_BASE = 'https://idempotence.dev/problems/';

export const problemCatalog = {
  'bad-request': { status: 400, title: 'Bad request' },
  'unauthorized': { status: 401, title: 'Missing or invalid credentials' },
  'not-found': { status: 404, title: 'Not found' },
  'method-not-allowed': { status: 405, title: 'Method not allowed' },
  'context-already-executed': { status: 409, title: 'The context has already executed another action' },
  'context-cancelled': { status: 410, title: 'The context was cancelled' },
  'context-expired': { status: 410, title: 'The context has expired' },
  'request-timeout': { status: 408, title: 'Request timeout' },
  'precondition-failed': { status: 412, title: 'Precondition failed' },
  'payload-too-large': { status: 413, title: 'Request body too large' },
  'unsupported-media-type': { status: 415, title: 'Unsupported media type' },
  'expectation-failed': { status: 417, title: 'Expectation failed' },
  'malformed-body': { status: 400, title: 'Malformed request body' },
  'invalid-parameter': { status: 400, title: 'Invalid query parameter' },
  'invalid-idempotency-key': { status: 400, title: 'Malformed Idempotency-Key' },
  'idempotency-key-required': { status: 400, title: 'Idempotency-Key required' },
  'idempotency-key-reused': { status: 422, title: 'Idempotency-Key reused with a different request' },
  'validation-failed': { status: 422, title: 'The request body does not match the schema' },
  'invalid-action': { status: 422, title: 'Invalid action' },
  'unknown-account': { status: 422, title: 'Unknown account' },
  'currency-mismatch': { status: 422, title: 'Currency mismatch' },
  'balance-limit-exceeded': { status: 422, title: 'Balance limit exceeded' },
  'insufficient-funds': { status: 422, title: 'Insufficient funds' },
  'unknown-payment-source': { status: 422, title: 'Unknown payment source' },
  'payment-declined': { status: 402, title: 'The card payment was declined' },
  'payment-rejected': { status: 422, title: 'The processor rejected the payment' },
  'precondition-required': { status: 428, title: 'Precondition required' },
  'operator-action-not-applicable': { status: 409, title: 'The operator action does not apply to the target in its current state' },
  'too-many-requests': { status: 429, title: 'Too many requests' },
  'request-header-fields-too-large': { status: 431, title: 'Request header fields too large' },
  'internal-error': { status: 500, title: 'Internal server error' },
  'service-unavailable': { status: 503, title: 'Service temporarily unavailable' },
} as const satisfies Record<string, { status: number; title: string }>;

export type ProblemSlug = keyof typeof problemCatalog;

export interface ProblemDocument {
  type: string;
  title: string;
  status?: number;
  detail?: string;
  instance?: string;
  [extension: string]: unknown;
}

export function problemType(slug: ProblemSlug): string {
  return PROBLEM_TYPE_BASE + slug;
}

export function problemDocument(slug: ProblemSlug, detail?: string, extensions: Record<string, unknown> = {}): ProblemDocument {
  const entry = problemCatalog[slug];
  return {
    type: problemType(slug),
    title: entry.title,
    status: entry.status,
    ...(detail === undefined ? {} : { detail }),
    ...extensions,
  };
}

/** A problem type of a host's own (an action's refusal), outside this catalog: any absolute URI. */
export interface CustomProblemType {
  readonly type: string;
  readonly title: string;
  /** The HTTP status the problem is answered with (4xx for a request that must not be retried unchanged). */
  readonly status: number;
}

/** Thrown anywhere below a route; the error middleware turns it into the response. */
export class ProblemError extends Error {
  /** The catalog entry, or undefined for a host's own problem type. */
  readonly slug: ProblemSlug | undefined;
  readonly problem: CustomProblemType;
  readonly detail: string | undefined;
  readonly headers: Readonly<Record<string, string>>;
  readonly extensions: Readonly<Record<string, unknown>>;

  constructor(
    kind: ProblemSlug | CustomProblemType,
    detail?: string,
    options: { headers?: Record<string, string>; extensions?: Record<string, unknown> } = {},
  ) {
    const problem = typeof kind === 'string' ? { type: problemType(kind), ...problemCatalog[kind] } : kind;
    if (typeof kind !== 'string' && !(/^[a-z][a-z0-9+.-]*:\S+$/i.test(kind.type) && Number.isInteger(kind.status) && kind.status >= 400 && kind.status <= 599)) {
      throw new TypeError(`A problem type needs an absolute URI and a 4xx/5xx status (got ${JSON.stringify(kind)})`);
    }
    super(detail ?? problem.title);
    this.name = 'ProblemError';
    this.slug = typeof kind === 'string' ? kind : undefined;
    this.problem = { type: problem.type, title: problem.title, status: problem.status };
    this.detail = detail;
    this.headers = options.headers ?? {};
    this.extensions = options.extensions ?? {};
  }

  get status(): number {
    return this.problem.status;
  }

  /** The RFC 9457 document of this problem. */
  document(extensions: Record<string, unknown> = {}): ProblemDocument {
    return {
      type: this.problem.type,
      title: this.problem.title,
      status: this.problem.status,
      ...(this.detail === undefined ? {} : { detail: this.detail }),
      ...extensions,
      ...this.extensions,
    };
  }
}
