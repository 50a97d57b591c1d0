-- The reconciliation queue: every payment the gateways may still change, and when to poll it
-- next. A work list folded from the log (PaymentCreated, webhooks, polls, abandonment) by the
-- "reconciliation_queue" reactor, exactly once, in the transaction of its checkpoint.
CREATE TABLE reconciliation_queue (
  partition_id     int    NOT NULL,
  stream_id        text   NOT NULL,
  tenant_id        text   NOT NULL,
  gateway          text   NOT NULL,
  transaction_id   text   NOT NULL,
  transaction_hash text   NOT NULL DEFAULT '',
  created_at_us    bigint NOT NULL,
  -- When the charge stops being payable (the gateway's word, or its default); polled until
  -- this plus the gateway's grace period.
  expires_at_us    bigint NOT NULL,
  polls            int    NOT NULL DEFAULT 0,
  last_poll_at_us  bigint NOT NULL DEFAULT 0,
  next_poll_at_us  bigint NOT NULL,
  state            text   NOT NULL CHECK (state IN ('pending', 'done')),
  -- Why it left the queue: confirmed, refunded, expired, abandoned, ...
  reason           text,
  updated_position bigint NOT NULL,
  PRIMARY KEY (partition_id, stream_id)
);
CREATE INDEX reconciliation_due ON reconciliation_queue (partition_id, next_poll_at_us)
  WHERE state = 'pending';

GRANT SELECT, INSERT, UPDATE, DELETE ON reconciliation_queue TO tally_projector;
GRANT SELECT ON reconciliation_queue TO tally_app;
