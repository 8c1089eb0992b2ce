-- Asynchronous actions of any type (src/phases/): the recovery point is the name of the last
-- step that committed ('accepted', then a phase of the action's, 'finished' at the end), and the
-- outputs those steps saved are kept with the context, keyed by step name, for the later phases.
ALTER TABLE contexts DROP CONSTRAINT contexts_recovery_point_check;
ALTER TABLE contexts ADD CONSTRAINT contexts_recovery_point_check
  CHECK (recovery_point ~ '^[a-z][a-z0-9_-]{0,63}$');
ALTER TABLE contexts ADD COLUMN phase_outputs jsonb NOT NULL DEFAULT '{}';

-- Card payments accepted before this migration go on where they stopped. Their processor key
-- was derived by the old formula: it is kept as the accepted step's output, and the payment's
-- charge phase sends it instead of the phase key, so no in-flight charge is ever made twice.
UPDATE contexts c
   SET phase_outputs = jsonb_build_object('accepted', jsonb_build_object('accountId', p.account_id, 'currency', p.currency, 'processorKey', p.processor_key))
                    || CASE WHEN c.recovery_point = 'charge_confirmed'
                            THEN jsonb_build_object('charge', jsonb_build_object('chargeId', p.charge_id))
                            ELSE '{}'::jsonb END,
       recovery_point = CASE WHEN c.recovery_point = 'charge_confirmed' THEN 'charge' ELSE c.recovery_point END
  FROM payments p
 WHERE p.tenant_id = c.tenant_id AND p.context_id = c.id AND c.state = 'processing';

-- A worker claims only the action types it has registered: the due jobs of a type, in order.
DROP INDEX contexts_runnable;
CREATE INDEX contexts_runnable ON contexts ((action ->> 'type'), run_after) WHERE state = 'processing';
