-- A long-poll waiter can only be waiting on a context that some earlier transaction committed:
-- one created and executed by the same transaction (a one-shot PUT or keyed POST) has nobody to
-- wake. Its notification was not free: a NOTIFY takes a database-wide lock from just before its
-- transaction commits until after the commit is flushed, so every one-shot request queued behind
-- every other's WAL flush and group commit never formed. OLD.xmin is the transaction that wrote
-- the version being replaced; when that is this transaction, the row was born here.
DROP TRIGGER contexts_changed ON contexts;
CREATE TRIGGER contexts_changed AFTER UPDATE OF version ON contexts
  FOR EACH ROW WHEN (OLD.version IS DISTINCT FROM NEW.version AND OLD.xmin <> pg_current_xact_id()::xid)
  EXECUTE FUNCTION notify_context_changed();
