// Row types of the tables in db/migrations, as kysely sees them. bigint columns are parsed to
// numbers by the pool (see database.ts); the schema bounds them to 2^53 - 1.
import type { ColumnType, Generated } from 'kysely';
import type { StoredState } from '../protocol/context-state.ts';

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type Json = ColumnType<unknown, string | null | undefined, string | null>;

export interface TenantsTable {
  id: Generated<string>;
  name: string;
  api_key_hash: Buffer;
  created_at: Generated<Date>;
}

export interface AccountsTable {
  tenant_id: string;
  id: Generated<string>;
  seq: Generated<number>;
  name: string;
  currency: string;
  balance: Generated<number>;
  version: Generated<number>;
  created_at: Generated<Date>;
  updated_at: Timestamp;
}

export interface ContextsTable {
  tenant_id: string;
  id: string;
  seq: Generated<number>;
  state: ColumnType<StoredState, StoredState | undefined, StoredState>;
  version: Generated<number>;
  action: Json;
  fingerprint: string | null;
  result: Json;
  error: Json;
  response_status: number | null;
  response_body: string | null;
  created_at: Generated<Date>;
  updated_at: Timestamp;
  expires_at: Timestamp;
  /** The last step of an asynchronous action that committed: 'accepted', a phase's name, 'finished'. */
  recovery_point: string | null;
  /** What the accepting step and each committed phase saved, by step name (src/phases/). */
  phase_outputs: ColumnType<Record<string, unknown>, string | undefined, string>;
  attempts: Generated<number>;
  run_after: Date | string | null;
  locked_by: string | null;
  locked_until: Date | string | null;
  last_error: string | null;
  idempotency_key: string | null;
  /** The W3C traceparent of the request that accepted the asynchronous action; NULL when tracing was off (src/telemetry/). */
  trace_parent: string | null;
}

export interface PaymentsTable {
  tenant_id: string;
  context_id: string;
  account_id: string;
  amount: number;
  currency: string;
  source: string;
  processor_key: string;
  charge_id: string | null;
  created_at: Generated<Date>;
}

export interface WebhookEndpointsTable {
  tenant_id: string;
  id: Generated<string>;
  seq: Generated<number>;
  url: string;
  secret: string;
  created_at: Generated<Date>;
}

export interface WebhookDeliveriesTable {
  id: Generated<number>;
  tenant_id: string;
  endpoint_id: string;
  event_id: string;
  event_type: string;
  payload: string;
  attempts: Generated<number>;
  next_attempt_at: Timestamp;
  locked_until: Date | string | null;
  delivered_at: Date | string | null;
  last_error: string | null;
  created_at: Generated<Date>;
  /** The context whose final state the event reports (migration 007; null before it). */
  context_id: string | null;
}

export interface IdempotencyKeysTable {
  scope: string;
  operation: string;
  key: string;
  fingerprint: string;
  response_status: number | null;
  response_body: string | null;
  response_headers: ColumnType<Record<string, string>, string | undefined, string>;
  context_id: string | null;
  created_at: Generated<Date>;
  expires_at: Timestamp;
}

export interface EntriesTable {
  tenant_id: string;
  id: Generated<number>;
  account_id: string;
  context_id: string;
  amount: number;
  balance_after: number;
  created_at: Generated<Date>;
}

/** A context's timeline (src/operations/journal.ts). */
export interface ContextEventsTable {
  id: Generated<number>;
  tenant_id: string;
  context_id: string;
  at: Timestamp;
  kind: 'request' | 'phase' | 'operator';
  outcome: string;
  detail: ColumnType<Record<string, unknown>, string | undefined, string>;
}

export interface MinuteCountsTable {
  minute: Timestamp;
  tenant_id: string;
  count: number;
}

export interface RequestOutcomeCountsTable extends MinuteCountsTable {
  outcome: string;
}

export interface ContextStateCountsTable extends MinuteCountsTable {
  state: string;
}

export interface OperatorActionsTable {
  id: Generated<number>;
  at: Generated<Date>;
  actor: string;
  action: string;
  tenant_id: string | null;
  target: string;
  if_match: string | null;
  outcome: string;
  detail: ColumnType<Record<string, unknown>, string | undefined, string>;
}

export interface Database {
  tenants: TenantsTable;
  accounts: AccountsTable;
  contexts: ContextsTable;
  entries: EntriesTable;
  payments: PaymentsTable;
  webhook_endpoints: WebhookEndpointsTable;
  webhook_deliveries: WebhookDeliveriesTable;
  idempotency_keys: IdempotencyKeysTable;
  context_events: ContextEventsTable;
  request_outcome_counts: RequestOutcomeCountsTable;
  context_state_counts: ContextStateCountsTable;
  operator_actions: OperatorActionsTable;
}
