-- Idempotency-Key compatibility (IETF draft "The Idempotency-Key HTTP Header Field"): a keyed
-- POST is recorded with the fingerprint of its request and the answer it committed.
CREATE TABLE idempotency_keys (
  -- The tenant, or the nil UUID for tenant administration (POST /tenants with ADMIN_TOKEN).
  scope           uuid NOT NULL,
  -- Keys are per operation: the same key on POST /accounts and POST /webhooks are two keys.
  operation       text NOT NULL,
  key             text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
  fingerprint     text NOT NULL,
  -- The answer to replay; for a context created by a one-shot POST, the context is the record
  -- (its state decides between the 202 and the final answer), so these stay NULL.
  response_status smallint,
  response_body   text,
  response_headers jsonb NOT NULL DEFAULT '{}',
  context_id      uuid,
  created_at      timestamptz NOT NULL DEFAULT now(),
  expires_at      timestamptz NOT NULL,
  PRIMARY KEY (scope, operation, key)
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);

-- The key a context was created with stays on the context after the key itself has expired:
-- "what happened to my key?" must have an answer as long as the history exists.
ALTER TABLE contexts ADD COLUMN idempotency_key text;
CREATE INDEX contexts_by_idempotency_key ON contexts (tenant_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
