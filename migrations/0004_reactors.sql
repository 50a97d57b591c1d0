-- Reactors: their checkpoints and the work lists they read. Work lists are folds of the log,
-- written only by their folder (role tally_projector) in the same transaction as its
-- checkpoint, so a restart loses nothing and a rebuild (truncate, checkpoint to 0, refold)
-- reconstructs them. Nothing else updates them: a decision is an event, and the work list
-- changes when that event is folded.

-- How far each reactor (decision reactors and work-list folders) has handled each partition.
CREATE TABLE reactor_checkpoints (
  name           text   NOT NULL,
  partition_id   int    NOT NULL,
  position       bigint NOT NULL DEFAULT 0 CHECK (position >= 0),
  updated_at     timestamptz NOT NULL DEFAULT now(),
  -- A poison event stops the reactor on this partition: what failed and where.
  error          text,
  error_position bigint,
  PRIMARY KEY (name, partition_id)
);

-- The outbox: one row per external call a reactor decided to make (a delivery message, a Meta
-- Purchase), from its request event to its outcome.
CREATE TABLE outbox (
  reactor            text   NOT NULL,
  partition_id       int    NOT NULL,
  item_id            text   NOT NULL,  -- e.g. the payment id
  stream_id          text   NOT NULL,  -- where its events are appended
  tenant_id          text   NOT NULL,
  state              text   NOT NULL CHECK (state IN ('due', 'in_flight', 'done', 'parked')),
  -- The attempt the next send will make (1-based); attempts before it have an outcome or were
  -- lost in flight.
  next_attempt       int    NOT NULL DEFAULT 1,
  due_at_us          bigint NOT NULL,
  -- Attempts recorded with no outcome: the process died during the call (a possible
  -- duplicate toward a service that does not deduplicate).
  unresolved_attempts int   NOT NULL DEFAULT 0,
  last_error         text,
  -- The request event's payload: everything the sender needs.
  request            bytea  NOT NULL,
  requested_position bigint NOT NULL,
  updated_position   bigint NOT NULL,
  PRIMARY KEY (reactor, partition_id, item_id)
);
CREATE INDEX outbox_due ON outbox (reactor, partition_id, due_at_us)
  WHERE state IN ('due', 'in_flight');

GRANT SELECT, INSERT, UPDATE, DELETE ON reactor_checkpoints, outbox TO tally_projector;
GRANT SELECT ON reactor_checkpoints, outbox TO tally_app;
