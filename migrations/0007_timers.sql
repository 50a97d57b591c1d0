-- Durable timers: every `…Scheduled{due_at}` event of a timer kind, and whether it has fired or
-- been cancelled. A work list folded from the log by the "timers" reactor, exactly once, in the
-- transaction of its checkpoint; the timer worker fires due rows, oldest due first, by
-- appending the kind's decision events, which the fold then marks fired.
CREATE TABLE timers (
  partition_id       int    NOT NULL,
  kind               text   NOT NULL,
  timer_id           text   NOT NULL,
  stream_id          text   NOT NULL,
  tenant_id          text   NOT NULL,
  due_at_us          bigint NOT NULL,
  state              text   NOT NULL CHECK (state IN ('scheduled', 'fired', 'cancelled')),
  -- The Scheduled event's payload: everything firing needs.
  request            bytea  NOT NULL,
  scheduled_position bigint NOT NULL,
  updated_position   bigint NOT NULL,
  PRIMARY KEY (partition_id, kind, timer_id)
);
CREATE INDEX timers_due ON timers (partition_id, due_at_us) WHERE state = 'scheduled';

GRANT SELECT, INSERT, UPDATE, DELETE ON timers TO tally_projector;
GRANT SELECT ON timers TO tally_app;
