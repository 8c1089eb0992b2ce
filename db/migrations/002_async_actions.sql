-- Asynchronous actions (card payments): a context may be 'processing' while a worker completes
-- it. The context row is the job: the worker claims it with FOR UPDATE SKIP LOCKED and a lease.
ALTER TABLE contexts DROP CONSTRAINT contexts_state_check;
ALTER TABLE contexts ADD CONSTRAINT contexts_state_check
  CHECK (state IN ('open', 'processing', 'succeeded', 'failed', 'cancelled'));
-- A processing context has accepted its action: the fingerprint and the 202 are recorded.
ALTER TABLE contexts DROP CONSTRAINT contexts_check;
ALTER TABLE contexts ADD CONSTRAINT contexts_recorded_check
  CHECK ((state IN ('processing', 'succeeded', 'failed')) = (fingerprint IS NOT NULL AND response_body IS NOT NULL));

ALTER TABLE contexts
  -- The last atomic phase that committed (brandur's recovery points).
  ADD COLUMN recovery_point text CHECK (recovery_point IN ('accepted', 'charge_confirmed', 'finished')),
  ADD COLUMN attempts integer NOT NULL DEFAULT 0,
  -- When a worker may next take the job; NULL for contexts that are not jobs.
  ADD COLUMN run_after timestamptz,
  ADD COLUMN locked_by text,
  ADD COLUMN locked_until timestamptz,
  ADD COLUMN last_error text;
CREATE INDEX contexts_runnable ON contexts (run_after) WHERE state = 'processing';

CREATE TABLE payments (
  tenant_id     uuid NOT NULL,
  context_id    uuid NOT NULL,
  account_id    uuid NOT NULL,
  amount        bigint NOT NULL CHECK (amount > 0),
  currency      char(3) NOT NULL,
  source        text NOT NULL,
  -- Idempotency-Key sent to the processor, derived from the context: a retried or taken-over
  -- phase sends the same key, so the processor can never charge twice.
  processor_key text NOT NULL UNIQUE,
  charge_id     text,
  created_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, context_id),
  FOREIGN KEY (tenant_id, context_id) REFERENCES contexts (tenant_id, id),
  FOREIGN KEY (tenant_id, account_id) REFERENCES accounts (tenant_id, id)
);

CREATE TABLE webhook_endpoints (
  tenant_id  uuid NOT NULL REFERENCES tenants (id),
  id         uuid NOT NULL DEFAULT gen_random_uuid(),
  seq        bigint GENERATED ALWAYS AS IDENTITY,
  url        text NOT NULL CHECK (url ~ '^https?://'),
  -- Standard Webhooks secret (whsec_<base64>); shown to the tenant once, kept to sign.
  secret     text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX webhook_endpoints_page ON webhook_endpoints (tenant_id, seq);

-- The outbox: one row per event and endpoint, written in the transaction of the state change,
-- delivered at least once. event_id is the webhook-id receivers de-duplicate by.
CREATE TABLE webhook_deliveries (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant_id       uuid NOT NULL,
  endpoint_id     uuid NOT NULL,
  event_id        text NOT NULL,
  event_type      text NOT NULL,
  payload         text NOT NULL,
  attempts        integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  locked_until    timestamptz,
  delivered_at    timestamptz,
  last_error      text,
  created_at      timestamptz NOT NULL DEFAULT now(),
  UNIQUE (endpoint_id, event_id),
  FOREIGN KEY (tenant_id, endpoint_id) REFERENCES webhook_endpoints (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE delivered_at IS NULL;

-- Every version change of a context wakes the long-polls waiting on it (GET with Prefer: wait).
-- NOTIFY is transactional: waiters hear of a change only once it has committed.
CREATE FUNCTION notify_context_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('context_changed', NEW.tenant_id::text || ':' || NEW.id::text);
  RETURN NULL;
END $$;
CREATE TRIGGER contexts_changed AFTER UPDATE OF version ON contexts
  FOR EACH ROW WHEN (OLD.version IS DISTINCT FROM NEW.version) EXECUTE FUNCTION notify_context_changed();
