-- What the operator console (src/operations/) reads besides the contexts themselves. None of it
-- decides anything: the contexts, jobs and outbox rows stay the only source of truth, so these
-- tables carry no foreign keys (a context past its retention may outlive its events or not).

-- The timeline of a context: each write request that touched it (its answer: executed, replayed,
-- 412, 409 …), each phase of its asynchronous action (outcome, attempt, error, recovery point),
-- each operator action. Written in batches by each process (src/operations/journal.ts).
CREATE TABLE context_events (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant_id uuid NOT NULL,
  context_id uuid NOT NULL,
  at timestamptz NOT NULL,
  kind text NOT NULL CHECK (kind IN ('request', 'phase', 'operator')),
  outcome text NOT NULL CHECK (length(outcome) BETWEEN 1 AND 64),
  detail jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX context_events_by_context ON context_events (tenant_id, context_id, at);
CREATE INDEX context_events_by_time ON context_events (at);

-- Requests per minute by outcome (the console's replays / 412 / 409 chart): counted in memory,
-- added here with each batch, so the chart never scans the events.
CREATE TABLE request_outcome_counts (
  minute timestamptz NOT NULL,
  tenant_id uuid NOT NULL,
  outcome text NOT NULL,
  count bigint NOT NULL CHECK (count >= 0),
  PRIMARY KEY (minute, tenant_id, outcome)
);

-- Contexts by state, sampled once a minute by a worker (the console's state chart).
CREATE TABLE context_state_counts (
  minute timestamptz NOT NULL,
  tenant_id uuid NOT NULL,
  state text NOT NULL,
  count bigint NOT NULL CHECK (count >= 0),
  PRIMARY KEY (minute, tenant_id, state)
);

-- Every operator action, allowed or refused, with the entity tag it was conditional on.
CREATE TABLE operator_actions (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at timestamptz NOT NULL DEFAULT now(),
  actor text NOT NULL,
  action text NOT NULL,
  tenant_id uuid,
  target text NOT NULL,
  if_match text,
  outcome text NOT NULL,
  detail jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX operator_actions_by_time ON operator_actions (at);

-- A webhook delivery names the context whose final state it reports, so a context's timeline
-- shows its deliveries. Null for events that are not about a context (and for older rows).
ALTER TABLE webhook_deliveries ADD COLUMN context_id uuid;
CREATE INDEX webhook_deliveries_by_context ON webhook_deliveries (tenant_id, context_id) WHERE context_id IS NOT NULL;
-- Failing endpoints: the undelivered rows that have been tried.
CREATE INDEX webhook_deliveries_failing ON webhook_deliveries (endpoint_id) WHERE delivered_at IS NULL AND attempts > 0;
