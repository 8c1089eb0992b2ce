/*
 * contexts.pml: a Promela model of one idempotence context, the requests racing on it, and the
 * card-payment job behind it (workers, the processor, reconciliation). Checked with spin by
 * scripts/check-model.sh (npm run check:model); how to run it and what it found: model/README.md.
 *
 * What is modelled, and the code each part stands for:
 *
 *   the database    the global variables below (the contexts row, the payment's charge id, the
 *                   ledger entries). Every d_step/atomic block that changes them is ONE committed
 *                   transaction or autocommitted statement; the row lock the code takes (SELECT
 *                   ... FOR UPDATE, an UPDATE's own row lock, FOR UPDATE SKIP LOCKED) is the
 *                   indivisibility of that block. A plain read outside a transaction (findContext,
 *                   the reconciler's two listings) is a step of its own, so anything may commit
 *                   between that read and what follows. A process that dies inside a block never
 *                   committed it (Postgres rolls the transaction back).
 *   the processor   charged_keys/charges: processor.charges, one row per Idempotency-Key
 *                   (src/processor/app.ts POST /charges, src/processor/charges.ts recordCharge);
 *                   its faults: refusal before charging, 500/hang after charging, and a request
 *                   our side gave up on that still arrives later (SlowRequests)
 *   clients         PutClient: two senders of the same payment (one loses its response and sends
 *                   the request again) and one of a deposit instead; DeleteClient
 *                   -> src/contexts/service.ts execute() and cancel()
 *   workers         Worker(1), Worker(2) -> src/phases/jobs.ts, runner.ts, step.ts and
 *                   the payment's phases, src/payments/phases.ts; between any two commits one may die or give up
 *   reconciliation  Reconciler -> src/phases/reconcile.ts with the payment's lookUpCharge (npm run reconcile)
 *   time            Clock: a lease runs out (locked_until < now()) at any moment, which is
 *                   weaker than the real assumption (a lease outlasts one processor call)
 *   properties      P1 P2 P3 P5 and the state machine: Invariants, in every reachable state;
 *                   P6: an assertion on every answer a client receives; P4: ltl formulas,
 *                   checked with -DLIVENESS under weak fairness
 *
 * Abstractions, on purpose: one context, one account, one tenant. Actions are small integers
 * (PAY = the card payment, asynchronous; DEP = a deposit, synchronous) and a fingerprint is the
 * action's number. Left out: expiry of open contexts (410 context-expired), create-by-PUT
 * (If-None-Match: *), the body and header checks (400/413/415/422/428), Idempotency-Key, webhooks,
 * declines for other reasons (balance limit, 4xx "rejected": not reachable with a known source).
 * Backoff delays are "due again at once"; attempts stop counting at MAXATT, which is all the
 * parking decision (attempts >= WORKER_MAX_ATTEMPTS) can tell apart.
 *
 * Switches (spin -DNAME ...):
 *   LIVENESS              finitely many faults, crashes and early lease expiries, for the ltl
 *                         runs; only the two payment clients (ALL_CLIENTS: all four, ~8x states)
 *   BUG_NO_RELOCK         execute() acts on its unlocked read: no FOR UPDATE, no second decidePut
 *                         (the UPDATE ... WHERE version = expected stays)
 *   BUG_BLIND_WRITE       BUG_NO_RELOCK, and recordExecution without WHERE version/state
 *   BUG_NO_STATE_CHECK    completePayment without "state must be processing"
 *   BUG_KEY_PER_ATTEMPT   the processor key names the attempt instead of the context
 *   BUG_NO_TAKEOVER       claimNextJob takes only jobs nobody holds (locked_by IS NULL), never
 *                         one whose lease ran out (liveness)
 *   BUG_NO_LEASE_CHECK    no "locked_by = worker" in confirmCharge/completePayment/rescheduleJob
 *                         (this one breaks nothing: see model/README.md)
 *   SOURCE=1, SOURCE=0    only tok_ok, only tok_declined (default: both)
 *   NO_DELETE             without the DELETE client (other counterexamples come first)
 *   STRICT_REPORTS        also assert that reconciliation never reports a difference for a person
 *                         (fails: see model/README.md)
 * The CI runs are without them; scripts/check-model.sh also runs each BUG_ switch that must fail
 * and fails itself if spin does not find the counterexample.
 */

#ifdef BUG_BLIND_WRITE
#define BUG_NO_RELOCK
#endif

/* ---------------------------------------------------------------- sizes and budgets */
#ifndef MAXATT
#define MAXATT 2            /* WORKER_MAX_ATTEMPTS (src/phases/worker.ts DEFAULT_MAX_ATTEMPTS = 8) */
#endif
#ifndef LOST
#define LOST 1              /* how many responses the retrying client loses */
#endif

#ifdef LIVENESS
/* Liveness needs the world to calm down eventually: finitely many processor faults, one worker
   that dies or gives a job up once (the other one survives), finitely many leases that run out
   under a live worker. */
#ifndef FAULTS
#define FAULTS 2
#endif
#ifndef CRASHES
#define CRASHES 1
#endif
#ifndef EXPIRIES
#define EXPIRIES 1
#endif
byte fault_budget = FAULTS;
byte crash_budget = CRASHES;
byte expire_budget = EXPIRIES;
#define FAULT_OK     (fault_budget > 0)
#define FAULT_SPEND  fault_budget--
#define CRASH_OK     (crash_budget > 0)
#define CRASH_SPEND  crash_budget--
#define EXPIRE_OK    (expire_budget > 0)
#define EXPIRE_SPEND expire_budget--
#else
/* Safety: no bounds at all. The processor may fail on every call, both workers may die or give
   jobs up anywhere, any lease may run out at any moment. */
#define FAULT_OK     true
#define FAULT_SPEND  skip
#define CRASH_OK     true
#define CRASH_SPEND  skip
#define EXPIRE_OK    true
#define EXPIRE_SPEND skip
#endif

/* ---------------------------------------------------------------- the database: contexts row */
/* contexts.state (src/protocol/context-state.ts storedStates) */
#define OPEN       1
#define PROCESSING 2
#define SUCCEEDED  3
#define FAILED     4
#define CANCELLED  5
/* contexts.recovery_point */
#define RP_NONE      0
#define RP_ACCEPTED  1
#define RP_CONFIRMED 2      /* 'charge_confirmed' */
#define RP_FINISHED  3
/* fingerprints: the actions */
#define NOFP 0
#define PAY  1
#define DEP  2

byte st = OPEN;             /* contexts.state; created by POST /contexts before the clients start */
byte version = 1;           /* contexts.version, the ETag */
byte fp = NOFP;             /* contexts.fingerprint */
byte rp = RP_NONE;          /* contexts.recovery_point */
byte locked_by = 0;         /* contexts.locked_by: 0 = NULL, else the worker id */
bit  lease = 0;             /* contexts.locked_until > now() */
byte attempts = 0;          /* contexts.attempts (saturates at MAXATT, see above) */
bit  has_error = 0;         /* contexts.last_error IS NOT NULL */
bit  parked = 0;            /* contexts.run_after IS NULL while processing: parked for reconciliation */
bit  charge_id_set = 0;     /* payments.charge_id IS NOT NULL */
byte credits = 0;           /* entries of this context (each one moves the account's balance) */

/* ---------------------------------------------------------------- the processor */
bit  source_ok;             /* the payment's source: tok_ok (charged) or tok_declined, chosen in init */
byte charged_keys = 0;      /* processor.charges: bit k set = a charge exists under key k */
byte charges = 0;           /* how many charges the processor holds for this context (all keys) */
byte inflight = 0;          /* bit k: a POST /charges with key k that our side gave up on is still on its way */

/* ---------------------------------------------------------------- ghosts (observations only) */
byte executions = 0;        /* committed recordExecution calls */
byte fp_changes = 0;        /* times the fingerprint took a new value */
byte changes = 0;           /* committed state changes */
bit  bad_transition = 0;    /* a state change outside canTransition */
bit  acked = 0;             /* some client received a 2xx */
bit  orphan = 0;            /* the lease holder stopped working on the job (died or gave up) */
bit  needs_person = 0;      /* reconciliation reported a difference that needs a person */

/* answers (HTTP status codes) */
#define A200 1
#define A202 2
#define A204 3
#define A409 4
#define A410 5
#define A412 6
#define A500 7
#define EXEC 8              /* decidePut said "execute" */
/* outcomes of POST /charges as the worker classifies them (src/payments/processor-client.ts) */
#define CHARGED  1
#define DECLINED 2
#define UNKNOWN  3

/* for the printf lines of a trail (spin -t model.pml); verification runs print nothing */
#define HTTP(a) (a == A200 -> 200 : (a == A202 -> 202 : (a == A204 -> 204 : (a == A409 -> 409 : \
                (a == A410 -> 410 : (a == A412 -> 412 : 500))))))

#define FINAL       (st == SUCCEEDED || st == FAILED || st == CANCELLED)
#define HAS_ACTION  (st == PROCESSING || st == SUCCEEDED || st == FAILED)   /* hasAcceptedAction */

/* contextEntityTag (src/protocol/preconditions.ts): "<version>", or "<version>.<attempts>.<digest>"
   while a processing context shows a worker's progress. Encoded as one number. */
#define PROGRESS (st == PROCESSING && (attempts > 0 || has_error))
#define CURTAG   (version * 32 + (PROGRESS -> 1 + attempts * 2 + has_error : 0))
#define TAG_V1   32         /* "1": the ETag of the freshly created context */

/* canTransition (src/protocol/context-state.ts) */
#define CAN_TRANSITION(a, b) ((a == OPEN && b != OPEN) || (a == PROCESSING && (b == SUCCEEDED || b == FAILED)))

inline set_state(s) {
  bad_transition = bad_transition || !CAN_TRANSITION(st, s);
  st = s;
  changes++
}

/* ================================================================ the API: PUT and DELETE */

/* decidePut (src/protocol/preconditions.ts), for a request that carries If-Match and a valid body:
   gone (410) -> replay of the same action (200/202) -> precondition (412) -> state (409) -> execute */
inline decide_put(myfp, mytag, dec) {
  if
  :: st == CANCELLED -> dec = A410
  :: else ->
     if
     :: HAS_ACTION && fp == myfp -> dec = (st == PROCESSING -> A202 : A200)   /* replay(row) */
     :: else ->
        if
        :: mytag != CURTAG -> dec = A412
        :: else ->
           if
           :: st != OPEN -> dec = A409
           :: else -> dec = EXEC
           fi
        fi
     fi
  fi
}

/* ContextService.run + the action + recordExecution (src/contexts/repository.ts):
   UPDATE contexts SET state, version = expected + 1, fingerprint ... WHERE version = expected
   AND state = 'open'; no row updated -> throw ("changed under its lock"), the transaction rolls
   back, the client gets a 500. PAY (src/payments/action.ts) writes the payment row and leaves the
   context processing with recovery_point 'accepted', run_after now(): 202. DEP credits the
   account in the same transaction: 200. */
inline run_action(myfp, expected, res) {
#ifndef BUG_BLIND_WRITE
  if
  :: version == expected && st == OPEN ->
#endif
     printf("client %d: executes action %d, version %d -> %d\n", id, myfp, expected, expected + 1);
     executions++;
     if
     :: fp != myfp -> fp_changes++
     :: else
     fi;
     fp = myfp;
     version = expected + 1;
     if
     :: myfp == PAY -> set_state(PROCESSING); rp = RP_ACCEPTED; parked = 0; res = A202
     :: myfp == DEP -> credits++; set_state(SUCCEEDED); res = A200
     fi
#ifndef BUG_BLIND_WRITE
  :: else -> res = A500
  fi
#endif
}

/* P6, checked on every answer a client receives. By then the context has taken its one action
   or was cancelled (a client's If-Match is never stale while it is open), and that never changes
   again (P1), so this is the same as checking at the end:
   a PUT whose action is the executed one gets 200 or 202 (the original answer or a replay, never
   409 or 412, whatever If-Match it carries); any other PUT gets 412 or 409 (410 or 412 if the
   context was cancelled instead); a DELETE gets 204 exactly when it cancelled, else 409 or 412.
   Never a 500. */
#define PUT_OK(a, f) \
  ((fp == f && (a == A200 || a == A202)) || \
   (fp != NOFP && fp != f && (a == A409 || a == A412)) || \
   (fp == NOFP && st == CANCELLED && (a == A410 || a == A412)))
#define DELETE_OK(a) \
  ((st == CANCELLED && a == A204) || (HAS_ACTION && (a == A409 || a == A412)))

/* The answer reaches the client, or it is lost on the way and the client sends exactly the same
   request again (at most `lost` times). Part of the step that produced the answer. */
inline deliver(res, answer_ok) {
  if
  :: retries < lost ->
     printf("client %d: the %d response is lost; it sends the same request again\n", id, HTTP(res));
     retries++; res = 0; goto again
  :: true ->
     printf("client %d: receives %d (state %d, fingerprint %d)\n", id, HTTP(res), st, fp);
     assert(answer_ok);                        /* P6 */
     acked = acked || res == A200 || res == A202 || res == A204;
     res = 0; retries = 0; tag = 0;            /* forget the locals: a smaller state space */
     goto end_done
  fi
}

/* A client that sends PUT {"action": myfp} until it has an answer. Its If-Match is "1" (the ETag
   of the freshly created context: current while nothing has happened, stale afterwards), or, if
   anytag, possibly the ETag of a GET made just before the request. (A GET made earlier is "1"
   while the context is open and a stale tag afterwards: both cases are here.)
   ContextService.execute (src/contexts/service.ts): */
proctype PutClient(byte id; byte myfp; bit anytag; byte lost) {
  byte tag = TAG_V1, res = 0, retries = 0;
#ifdef BUG_NO_RELOCK
  byte seen = 0;
#endif
again:
  atomic {
    if
    :: anytag && retries == 0 -> tag = CURTAG          /* GET /contexts/{id}, then the PUT */
    :: true
    fi;
    /* findContext (plain read, no lock) + decidePut: replays, 410, 412 and 409 are answered here */
    decide_put(myfp, tag, res);
#ifdef BUG_NO_RELOCK
    seen = version;
#endif
    if
    :: res == EXEC -> printf("client %d: reads the context open, its If-Match current: goes to execute\n", id)
    :: else -> deliver(res, PUT_OK(res, myfp))
    fi
  };
  atomic {
    /* inTransaction: lockContext (SELECT ... FOR UPDATE) -> decidePut again -> run -> COMMIT.
       A duplicate that read "open" waited here for the first request's lock and replays now. */
#ifndef BUG_NO_RELOCK
    decide_put(myfp, tag, res);
    if
    :: res == EXEC -> run_action(myfp, version, res)    /* under the lock its WHERE always holds */
    :: else
    fi;
#else
    run_action(myfp, seen, res);     /* acts on what the unlocked read saw */
    seen = 0;
#endif
    deliver(res, PUT_OK(res, myfp))
  };
end_done:
  false                              /* answered: nothing more to do */
}

/* DELETE /contexts/{id} with If-Match "1" or the ETag of a GET just before.
   ContextService.cancel: lockContext, decideDelete, cancelContext ... WHERE version = expected
   AND state = 'open', all in one transaction. */
proctype DeleteClient(byte id) {
  byte tag = TAG_V1, res = 0, retries = 0;
  byte lost = 0;
again:
  atomic {
    if
    :: tag = CURTAG
    :: true
    fi;
    if
    :: st == CANCELLED -> res = A410
    :: else ->
       if
       :: tag != CURTAG -> res = A412
       :: else ->
          if
          :: st != OPEN -> res = A409
          :: else -> printf("client %d: cancels\n", id); set_state(CANCELLED); version++; res = A204
          fi
       fi
    fi;
    deliver(res, DELETE_OK(res))
  };
end_done:
  false
}

/* ================================================================ the processor */

inline charge(k) {   /* recordCharge: INSERT ... ON CONFLICT (idempotency_key) DO NOTHING */
  if
  :: (charged_keys & (1 << k)) == 0 ->
     printf("processor: a new charge under key %d\n", k);
     charged_keys = charged_keys | (1 << k); charges++
  :: else
  fi
}

/* One POST /charges with Idempotency-Key k (src/processor/app.ts), and what the worker's client
   makes of the answer (ProcessorClient.createCharge). */
inline call_processor(k, outcome) {
    if
    :: FAULT_OK -> FAULT_SPEND; outcome = UNKNOWN;                /* 503, refused before charging */
       printf("worker %d: POST /charges key %d refused (503), nothing charged\n", me, k)
    :: FAULT_OK -> FAULT_SPEND; outcome = UNKNOWN;                /* our timeout fired first; the */
       inflight = inflight | (1 << k);                            /* request still arrives later  */
       printf("worker %d: POST /charges key %d times out before the processor saw it\n", me, k)
    :: true ->
       charge(k);                                                 /* a replay finds the old row */
       if
       :: FAULT_OK -> FAULT_SPEND; outcome = UNKNOWN;             /* 500 or hang after charging */
          printf("worker %d: POST /charges key %d: 500 or timeout after the charge\n", me, k)
       :: true -> outcome = (source_ok -> CHARGED : DECLINED);    /* 201/200, or 402 */
          printf("worker %d: POST /charges key %d: %d\n", me, k, (source_ok -> 201 : 402))
       fi
    fi
}

/* Requests our side gave up on still reach the processor, in any order, at any time. */
active proctype SlowRequests() {
end:
  do
  :: atomic {
       inflight != 0 ->
       printf("processor: a request our side gave up on arrives now\n");
       if
       :: (inflight & 1) != 0 -> charge(0); inflight = inflight & ~1
       :: (inflight & 2) != 0 -> charge(1); inflight = inflight & ~2
       :: (inflight & 4) != 0 -> charge(2); inflight = inflight & ~4
       :: (inflight & 8) != 0 -> charge(3); inflight = inflight & ~8
       fi
     }
  od
}

/* ================================================================ workers */

/* phaseKey (src/phases/keys.ts): charge_<hash of tenant, context, phase>, the same for every attempt */
#ifdef BUG_KEY_PER_ATTEMPT
#define KEY(att) (att)
#else
#define KEY(att) 0
#endif

#ifdef BUG_NO_LEASE_CHECK
#define HOLDS(w) true
#else
#define HOLDS(w) (locked_by == w)
#endif

/* the credit phase (src/payments/phases.ts) and writeContextState (src/contexts/state-writer.ts),
   one transaction under the context's row lock (src/phases/step.ts runTransactional):
   state must be processing; with a guard (who != 0, the worker) the caller must be locked_by;
   credit (charged) or not (declined); state, version+1, recovery_point finished, lease cleared,
   payments.charge_id. The reconciler calls it with who = 0 (no lease check; the code's reconciler
   holds a lease of its own, which only removes interleavings). */
inline complete_payment(who, resolution, ok) {
  d_step {
#ifdef BUG_NO_STATE_CHECK
    ok = 1;
#else
    ok = (st == PROCESSING);
#endif
    if
    :: ok && who != 0 && !HOLDS(who) -> ok = 0
    :: else
    fi;
    if
    :: ok ->
       if
       :: who == 0 && resolution == CHARGED -> printf("reconciler: completePayment: credit, succeeded\n")
       :: who == 0 && resolution != CHARGED -> printf("reconciler: completePayment: failed (declined)\n")
       :: who != 0 && resolution == CHARGED -> printf("worker %d: completePayment: credit, succeeded\n", who)
       :: who != 0 && resolution != CHARGED -> printf("worker %d: completePayment: failed (declined)\n", who)
       fi;
       if
       :: resolution == CHARGED -> credits++; set_state(SUCCEEDED)    /* postEntry */
       :: else -> set_state(FAILED)                                   /* payment-declined */
       fi;
       version++;
       rp = RP_FINISHED; parked = 0; locked_by = 0; lease = 0; has_error = 0; charge_id_set = 1
    :: else
    fi
  }
}

/* commitRecoveryPoint (src/phases/jobs.ts) after the charge phase: UPDATE ... SET recovery_point =
   'charge', phase_outputs.charge = {chargeId}, last_error = NULL WHERE locked_by = me AND
   state = 'processing' AND recovery_point = 'accepted' (charge_id_set: the saved output). */
inline confirm_charge(me, ok) {
  d_step {
    ok = (HOLDS(me) && st == PROCESSING && rp == RP_ACCEPTED);
    if
    :: ok -> rp = RP_CONFIRMED; has_error = 0; charge_id_set = 1;
       printf("worker %d: confirms the charge (charge_confirmed)\n", me)
    :: else -> printf("worker %d: confirmCharge updates nothing: lease lost\n", me)
    fi
  }
}

/* releaseJob (src/phases/jobs.ts): WHERE locked_by = me AND state = 'processing'; run_after
   later (due again) or NULL (parked, job.attempts >= maxAttempts); lease released; last_error. */
inline reschedule(me, job_att) {
  d_step {
    if
    :: HOLDS(me) && st == PROCESSING ->
       parked = (job_att >= MAXATT); locked_by = 0; lease = 0; has_error = 1;
       printf("worker %d: outcome unknown, reschedules (parked: %d)\n", me, parked)
    :: else
    fi
  }
}

/* Instead of its next step, the worker may
   - die (a failpoint, src/phases/failpoints.ts; SIGKILL, OOM, a deploy): it never comes back;
   - or give the job up (Worker.execute's catch in src/phases/worker.ts: a query failed, the connection
     broke): it goes on claiming jobs.
   Either way nothing of the step was committed ('inside-credit' kills it inside the credit
   transaction, which rolls back), and its lease stays until the Clock lets it run out. */
inline crash() {
  atomic {
    CRASH_OK -> CRASH_SPEND;
    orphan = orphan || (lease && locked_by == me);
    job_att = 0; job_rp = 0; outcome = 0; ok = 0;
    if
    :: printf("worker %d dies\n", me); goto end_dead
    :: printf("worker %d gives the job up\n", me)          /* back to claiming */
    fi
  }
}

inline forget() {   /* the job is over (finished, rescheduled, or the lease was lost) */
  job_att = 0; job_rp = 0; outcome = 0; ok = 0
}

/* Worker.run -> claimNextJob + runJob (src/phases/worker.ts, runner.ts), the payment's phases.
   Each option below is one step; `crash()` next to a step is the failpoint before it. */
proctype Worker(byte me) {
  byte job_att = 0, job_rp = 0, outcome = 0;
  bit ok = 0;
  do
  :: FINAL -> break           /* nothing will ever be due again (a real worker idles) */
  :: d_step {
       /* claimNextJob: UPDATE ... FROM (SELECT ... WHERE state = 'processing' AND run_after <= now()
          AND (locked_until IS NULL OR locked_until < now()) FOR UPDATE SKIP LOCKED)
          SET locked_by = me, locked_until = now() + lease, attempts = attempts + 1 */
#ifdef BUG_NO_TAKEOVER
       st == PROCESSING && !parked && locked_by == 0 ->      /* only jobs nobody ever held */
#else
       st == PROCESSING && !parked && !lease ->
#endif
       locked_by = me; lease = 1; orphan = 0;
       if
       :: attempts < MAXATT -> attempts++
       :: else
       fi;
       job_att = attempts; job_rp = rp;
       printf("worker %d: claims the job (attempt %d, recovery point %d)\n", me, attempts, rp);
       /* findPayment right after: past the charge, the charge id must be there (else it throws
          "past its charge but has no charge id") */
       assert(job_rp == RP_ACCEPTED || (job_rp == RP_CONFIRMED && charge_id_set))
     };
     if
     :: crash()                                        /* failpoint 'before-charge' */
     :: d_step { job_rp == RP_CONFIRMED -> complete_payment(me, CHARGED, ok); forget() }
     :: atomic {                                       /* createCharge(processor_key, ...) */
          job_rp == RP_ACCEPTED -> call_processor(KEY(job_att), outcome)
        };
        if
        :: crash()                                     /* failpoint 'after-charge' */
        :: d_step { outcome == DECLINED -> complete_payment(me, DECLINED, ok); forget() }
        :: d_step { outcome == UNKNOWN -> reschedule(me, job_att); forget() }
        :: d_step { outcome == CHARGED -> confirm_charge(me, ok) };
           if
           :: crash()                                  /* failpoint 'after-confirm' */
           :: d_step { ok -> complete_payment(me, CHARGED, ok); forget() }
           :: d_step { !ok -> forget() }               /* 'lease-lost' */
           fi
        fi
     fi
  od;
end_dead:
  false
}

/* ================================================================ lease expiry */

/* locked_until passes. For a dead worker that always happens eventually; for a live one it is a
   fault (a pause longer than WORKER_LEASE_SECONDS), unbounded for safety, budgeted for liveness. */
active proctype Clock() {
end:
  do
  :: atomic {
       lease && (orphan || EXPIRE_OK) ->
       if
       :: !orphan -> EXPIRE_SPEND
       :: else
       fi;
       printf("clock: the lease of worker %d runs out\n", locked_by);
       lease = 0; orphan = 0
     }
  od
}

/* ================================================================ reconciliation */

/* reconcile (src/payments/reconcile.ts): allCharges (the processor's listing), then allPayments
   (one SELECT), then per difference a repair through a conditional write, or a report for a
   person. It runs at any time while the payment is processing, again and again (a cron job).
   The charge's status is the source's (tok_ok: succeeded, tok_declined: declined). */
active proctype Reconciler() {
  bit saw_charge = 0, saw_processing = 0, saw_parked = 0, ok = 0;
#ifdef STRICT_REPORTS
  byte saw_state = 0, saw_credits = 0;
#endif
  do
  :: FINAL -> break
  :: d_step {                                                                  /* allCharges (key ctx_...) */
       st == PROCESSING -> saw_charge = ((charged_keys & 1) != 0);
       printf("reconciler: the processor lists a charge: %d\n", saw_charge)
     };
     d_step {                                                                  /* allPayments */
       saw_processing = (st == PROCESSING); saw_parked = parked;
       printf("reconciler: the payment is processing: %d, parked: %d\n", saw_processing, saw_parked);
#ifdef STRICT_REPORTS
       saw_state = st; saw_credits = credits
#endif
     };
     if
     :: d_step {
          /* charge-without-credit / decline-not-recorded: completePayment, no lease check */
          saw_charge && saw_processing ->
          complete_payment(0, (source_ok -> CHARGED : DECLINED), ok);
          saw_charge = 0; saw_processing = 0; saw_parked = 0; ok = 0
        }
     :: d_step {
          /* parked-without-charge (credited is 0 while processing, P5): UPDATE ... SET
             run_after = now(), attempts = 0 WHERE state = 'processing' AND run_after IS NULL */
          !saw_charge && saw_processing && saw_parked ->
          if
          :: st == PROCESSING && parked -> parked = 0; attempts = 0;
             printf("reconciler: parked without a charge: due again\n")
          :: else
          fi;
          saw_processing = 0; saw_parked = 0
        }
     :: d_step {
          /* nothing to repair: matched, still with the workers, or a report for a person */
          !(saw_charge && saw_processing) && !(!saw_charge && saw_processing && saw_parked) ->
#ifdef STRICT_REPORTS
          if
          :: saw_charge && source_ok && saw_state == SUCCEEDED && saw_credits == 1     /* matched */
          :: saw_charge && !source_ok && saw_state == FAILED && saw_credits == 0      /* matched */
          :: !saw_charge && saw_credits == 0                                          /* nothing */
          :: else -> needs_person = 1;   /* credit-without-charge, charge-on-failed-context, ... */
             printf("reconciler: reports a difference (charge %d, state %d, credits %d)\n",
                    saw_charge, saw_state, saw_credits)
          fi;
          saw_state = 0; saw_credits = 0;
#endif
          saw_charge = 0; saw_processing = 0; saw_parked = 0
        }
     fi
  od
}

/* ================================================================ the properties */

/* P1  at most one action is executed on the context; its fingerprint is set once, never changed
   P2  the ledger effect (credit / deposit) is applied at most once
   P3  the processor holds at most one charge for the context
   P5  succeeded <=> exactly one credit; a payment that succeeded was charged exactly once, one
       that failed was declined by the processor
   SM  every state change follows canTransition, and each one bumps the version by one
   Checked in every reachable state: this process can only move when one of them is false. */
#define P1  (executions <= 1 && fp_changes <= 1)
#define P2  (credits <= 1)
#define P3  (charges <= 1)
#define P5  ((st == SUCCEEDED) == (credits == 1) && \
             (!(st == SUCCEEDED && fp == PAY) || (charges == 1 && source_ok)) && \
             (!(st == FAILED && fp == PAY) || (charges == 1 && !source_ok)))
#define SM  (!bad_transition && version == 1 + changes)
#ifdef STRICT_REPORTS
#define REPORTS (!needs_person)
#else
#define REPORTS true
#endif

active proctype Invariants() {
end:
  atomic {
    !(P1 && P2 && P3 && P5 && SM && REPORTS) ->
    assert(P1); assert(P2); assert(P3); assert(P5); assert(SM); assert(REPORTS)
  }
}

/* P4  nothing acknowledged is lost: once a client got a 2xx, the context eventually is final, and
       credited exactly once if it succeeded; the same for every payment accepted (202 sent or not).
   Checked with -DLIVENESS, pan -a -f (weak fairness: every live worker, the reconciler, the clock
   and the processor keep getting turns; faults, crashes and early lease expiries are finite). */
#define SETTLED (FINAL && (st != SUCCEEDED || credits == 1) && (st == SUCCEEDED || credits == 0))
ltl acked_settles    { [] (acked -> <> SETTLED) }
ltl accepted_settles { [] ((st == PROCESSING) -> <> SETTLED) }

init {
  atomic {
#ifdef SOURCE
    source_ok = SOURCE;         /* -DSOURCE=1: only tok_ok; -DSOURCE=0: only tok_declined */
#else
    if
    :: source_ok = 1            /* tok_ok */
    :: source_ok = 0            /* tok_declined */
    fi;
#endif
    run PutClient(0, PAY, 0, 0);      /* PUT payment, If-Match "1" */
    run PutClient(1, PAY, 0, LOST);   /* the same request, sent again after lost responses */
#if !defined(LIVENESS) || defined(ALL_CLIENTS)
    /* (Left out of the liveness runs: they end the context at once, a deposit or a cancel, or
       are refused, and add nothing to wait for.) */
    run PutClient(2, DEP, 1, 0);      /* a deposit instead, If-Match "1" or current */
#ifndef NO_DELETE
    run DeleteClient(3);              /* DELETE, If-Match "1" or current */
#endif
#endif
    run Worker(1);
    run Worker(2)
  }
}
