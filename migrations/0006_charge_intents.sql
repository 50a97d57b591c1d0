-- Charge intents: every ChargeRequested (appended before a gateway call) and what became of
-- it: recorded (its PaymentCreated arrived); absent (the gateway refused the call or holds no
-- such charge: nothing was created); open (nobody knows yet: the charge reconciler looks it
-- up by our reference once the call has certainly ended); unresolved (the gateway cannot be
-- asked, or the look-up was refused: listed for the operator). A work list folded from the log
-- by the "charge_intents" reactor, exactly once, in the transaction of its checkpoint.
CREATE TABLE charge_intents (
  partition_id     int    NOT NULL,
  payment_id       text   NOT NULL,
  tenant_id        text   NOT NULL,
  gateway          text   NOT NULL,
  attempt          int    NOT NULL,
  requested_at_us  bigint NOT NULL,
  -- When the reconciler looks: the call has certainly ended by then.
  due_at_us        bigint NOT NULL,
  state            text   NOT NULL CHECK (state IN ('open', 'recorded', 'absent', 'unresolved')),
  -- Operator retries of an unresolved intent (each looks again).
  reopened         int    NOT NULL DEFAULT 0,
  reason           text,
  detail           text,
  updated_position bigint NOT NULL,
  PRIMARY KEY (partition_id, payment_id)
);
CREATE INDEX charge_intents_due ON charge_intents (partition_id, due_at_us)
  WHERE state = 'open';

GRANT SELECT, INSERT, UPDATE, DELETE ON charge_intents TO tally_projector;
GRANT SELECT ON charge_intents TO tally_app;
