-- Workers sleep until there is work: a context that becomes a due job — accepted (processing,
-- due now), or put back due at once (reconciliation's resume) — notifies `contexts_due` with its
-- action type, so only workers that run that type wake. Jobs due later (a retry after its
-- backoff) are found by the workers' slow fallback poll. NOTIFY is transactional: a worker hears
-- of a job only once the job has committed.
CREATE FUNCTION notify_job_due() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('contexts_due', coalesce(NEW.action ->> 'type', ''));
  RETURN NULL;
END $$;
CREATE TRIGGER contexts_due AFTER UPDATE OF state, run_after ON contexts
  FOR EACH ROW WHEN (NEW.state = 'processing' AND NEW.run_after IS NOT NULL AND NEW.run_after <= now()
                     AND (OLD.state IS DISTINCT FROM 'processing' OR OLD.run_after IS DISTINCT FROM NEW.run_after))
  EXECUTE FUNCTION notify_job_due();
