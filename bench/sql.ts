// The statements the service sends for each benchmarked request, byte for byte as its query
// builder renders them (test/bench/sql-parity.test.ts captures the service's statements and
// compares). The bare server (bare-server.ts) and the pgbench scripts (pgbench.ts) run these,
// so "ours / bare" is the cost of our code and "bare / pgbench" the cost of Node and HTTP.

export interface Statement {
  text: string;
  /** Names of $1, $2, …: pgbench scripts substitute their :variables by these names. */
  params: readonly string[];
}

function statement(text: string, ...params: string[]): Statement {
  return { text: text.replace(/\s+/g, ' ').trim(), params };
}

const contextColumns =
  '"id", "seq", "state", "version", "action", "fingerprint", "result", "error", "response_status", "response_body", ' +
  '"created_at", "updated_at", "expires_at", "attempts", "last_error", "recovery_point", "locked_by", "idempotency_key", now() as "now"';

export const SQL = {
  begin: statement('begin'),
  commit: statement('commit'),
  authenticate: statement('select "id", "name", "created_at" from "tenants" where "api_key_hash" = $1', 'keyHash'),
  findContext: statement(`select ${contextColumns} from "contexts" where "tenant_id" = $1 and "id" = $2`, 'tenant', 'context'),
  lockContext: statement(`select ${contextColumns} from "contexts" where "tenant_id" = $1 and "id" = $2 for update`, 'tenant', 'context'),
  insertContext: statement(
    `insert into "contexts" ("tenant_id", "id", "idempotency_key", "updated_at", "expires_at")
     values ($1, $2, $3, now(), now() + make_interval(secs => $4))
     on conflict ("tenant_id", "id") do nothing returning ${contextColumns}`,
    'tenant', 'context', 'idempotencyKey', 'ttl',
  ),
  lockAccounts: statement(
    `select "id", "seq", "name", "currency", "balance", "version", "created_at", "updated_at" from "accounts"
     where "tenant_id" = $1 and "id" = any($2::uuid[]) order by "id" for update`,
    'tenant', 'accounts',
  ),
  /** The ledger's posting statement (on accounts locked just before): check, move the balances, append the entries. */
  postLegs: statement(
    `WITH legs AS ( SELECT * FROM unnest($1::uuid[], $2::bigint[]) WITH ORDINALITY AS l(account_id, amount, leg) ), locked AS ( SELECT a.id, a.seq, a.name, a.currency, a.balance, a.version, a.created_at, a.updated_at FROM accounts a WHERE a.tenant_id = $3 AND a.id = ANY($4::uuid[]) ORDER BY a.id FOR UPDATE ), admitted AS ( SELECT count(*) = cardinality($5::uuid[]) AND count(DISTINCT l.currency) = 1 AND bool_and(l.currency = coalesce($6::char(3), l.currency)) AND bool_and(l.balance + legs.amount BETWEEN 0 AND $7::bigint) AS ok FROM legs JOIN locked l ON l.id = legs.account_id ), moved AS ( UPDATE accounts a SET balance = a.balance + legs.amount, version = a.version + 1, updated_at = now() FROM legs, admitted WHERE admitted.ok AND a.tenant_id = $8 AND a.id = legs.account_id RETURNING a.id, a.balance, legs.amount, legs.leg ), posted AS ( INSERT INTO entries (tenant_id, account_id, context_id, amount, balance_after) SELECT $9, id, $10, amount, balance FROM moved ORDER BY leg RETURNING id, account_id, amount, balance_after, created_at ) SELECT l.*, p.id AS entry_id, p.amount AS entry_amount, p.balance_after, p.created_at AS entry_created_at FROM locked l LEFT JOIN posted p ON p.account_id = l.id`,
    'accounts', 'amounts', 'tenant', 'accounts', 'accounts', 'currency', 'maxBalance', 'tenant', 'tenant', 'context',
  ),
  /** The outcome and its webhook event (one delivery per endpoint of the tenant) in one statement. */
  recordExecution: statement(
    `with "recorded" as (update "contexts" set "state" = $1, "version" = $2, "action" = $3, "fingerprint" = $4, "result" = $5,
     "error" = $6, "response_status" = $7, "response_body" = $8, "updated_at" = now()
     where "tenant_id" = $9 and "id" = $10 and "version" = $11 returning "tenant_id", "id"),
     "queued" as (insert into "webhook_deliveries" ("tenant_id", "endpoint_id", "event_id", "event_type", "payload", "context_id")
     select "e"."tenant_id", "e"."id", $12 as "event_id", $13 as "event_type", $14 as "payload", "r"."id" as "context_id" from "webhook_endpoints" as "e"
     inner join "recorded" as "r" on "r"."tenant_id" = "e"."tenant_id" returning "endpoint_id")
     select count(*) as "recorded" from "recorded"`,
    'state', 'version', 'action', 'fingerprint', 'result', 'error', 'status', 'body', 'tenant', 'context', 'expectedVersion',
    'eventId', 'eventType', 'payload',
  ),
  listContexts: statement(`select ${contextColumns} from "contexts" where "tenant_id" = $1 order by "seq" desc limit $2`, 'tenant', 'limit'),
  claimKey: statement(
    `INSERT INTO idempotency_keys AS k (scope, operation, key, fingerprint, expires_at, context_id)
     VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5), $6)
     ON CONFLICT (scope, operation, key) DO UPDATE
     SET fingerprint = EXCLUDED.fingerprint, expires_at = EXCLUDED.expires_at, created_at = now(),
     response_status = NULL, response_body = NULL, response_headers = '{}', context_id = EXCLUDED.context_id
     WHERE k.expires_at <= now() RETURNING expires_at`,
    'tenant', 'operation', 'key', 'fingerprint', 'ttl', 'context',
  ),
} as const;

export type StatementName = keyof typeof SQL;

/**
 * The statements of each benchmarked request, in order, once the API key is known (keys found
 * are cached for AUTH_CACHE_TTL_SECONDS; the bare server does the same). Statements between
 * `begin` and `commit` are one transaction; the others run on any pooled connection.
 */
export const REQUEST_STATEMENTS = {
  /** PUT /contexts/{new id} with If-None-Match: * and a transfer. */
  oneShotTransfer: ['findContext', 'begin', 'insertContext', 'lockAccounts', 'postLegs', 'recordExecution', 'commit'],
  /** POST /contexts (no body). */
  createContext: ['begin', 'insertContext', 'commit'],
  /** PUT /contexts/{id} with If-Match and a transfer. */
  executeTransfer: ['findContext', 'begin', 'lockContext', 'lockAccounts', 'postLegs', 'recordExecution', 'commit'],
  /** The same PUT again, or GET /contexts/{id} (200 or 304). */
  readContext: ['findContext'],
  /** GET /contexts?limit=20. */
  listContexts: ['listContexts'],
  /** POST /contexts with Idempotency-Key and a deposit. */
  keyedDeposit: [
    'begin', 'claimKey', 'insertContext', 'lockAccounts', 'postLegs', 'recordExecution', 'commit',
  ],
  /** The baseline of the keyed-POST comparison: the deposit transaction with no idempotency at all. */
  plainDeposit: ['begin', 'insertContext', 'lockAccounts', 'postLegs', 'commit'],
} as const satisfies Record<string, readonly StatementName[]>;

export type RequestKind = keyof typeof REQUEST_STATEMENTS;
