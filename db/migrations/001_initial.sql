-- Tenants own everything else; every other primary key starts with tenant_id so that
-- one tenant's ids are simply unknown to another (and tenant_id can be a distribution key).
CREATE TABLE tenants (
  id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  -- SHA-256 of the API key. Keys are 256-bit random, so a fast hash is enough and lets us
  -- look a key up by an index instead of comparing against every tenant.
  api_key_hash bytea NOT NULL UNIQUE,
  created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE accounts (
  tenant_id  uuid NOT NULL REFERENCES tenants (id),
  id         uuid NOT NULL DEFAULT gen_random_uuid(),
  seq        bigint GENERATED ALWAYS AS IDENTITY,
  name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  currency   char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  -- Minor units. The upper bound keeps every balance exact as a JSON number (2^53 - 1).
  balance    bigint NOT NULL DEFAULT 0 CHECK (balance BETWEEN 0 AND 9007199254740991),
  version    bigint NOT NULL DEFAULT 1,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX accounts_page ON accounts (tenant_id, seq);

CREATE TABLE contexts (
  tenant_id       uuid NOT NULL REFERENCES tenants (id),
  id              uuid NOT NULL,
  seq             bigint GENERATED ALWAYS AS IDENTITY,
  -- 'expired' is never stored: an open context past expires_at reads as expired.
  state           text NOT NULL DEFAULT 'open'
                  CHECK (state IN ('open', 'succeeded', 'failed', 'cancelled')),
  version         bigint NOT NULL DEFAULT 1,
  action          jsonb,
  -- SHA-256 (hex) of the canonical JSON (RFC 8785) of the request body that executed the action.
  fingerprint     text,
  result          jsonb,
  error           jsonb,
  -- The exact bytes answered when the action was executed; replays send them again.
  response_status smallint,
  response_body   text,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  expires_at      timestamptz NOT NULL,
  PRIMARY KEY (tenant_id, id),
  CHECK ((state IN ('succeeded', 'failed')) = (fingerprint IS NOT NULL AND response_body IS NOT NULL))
);
CREATE UNIQUE INDEX contexts_page ON contexts (tenant_id, seq);
CREATE INDEX contexts_state_page ON contexts (tenant_id, state, seq);

-- Append-only: every balance change is one row here, written in the same transaction as the
-- balance and the context, so any balance can be recomputed as the sum of its entries.
CREATE TABLE entries (
  tenant_id     uuid NOT NULL,
  id            bigint GENERATED ALWAYS AS IDENTITY,
  account_id    uuid NOT NULL,
  context_id    uuid NOT NULL,
  amount        bigint NOT NULL CHECK (amount <> 0),
  balance_after bigint NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, account_id) REFERENCES accounts (tenant_id, id),
  FOREIGN KEY (tenant_id, context_id) REFERENCES contexts (tenant_id, id)
);
CREATE INDEX entries_by_account ON entries (tenant_id, account_id, id);

CREATE FUNCTION entries_are_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'entries are append-only';
END $$;
CREATE TRIGGER entries_append_only BEFORE UPDATE OR DELETE ON entries
  FOR EACH ROW EXECUTE FUNCTION entries_are_append_only();
