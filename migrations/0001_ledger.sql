-- The event log. See docs/LOG_FORMAT.md for the hash chain and ../shared/DESIGN.md ("The log").

DO $$
BEGIN
  CREATE ROLE tally_app NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
  NULL;
END
$$;

CREATE TABLE events (
  partition_id    int         NOT NULL,
  position        bigint      NOT NULL CHECK (position > 0),
  stream_id       text        NOT NULL CHECK (length(stream_id) BETWEEN 1 AND 200),
  stream_version  int         NOT NULL CHECK (stream_version > 0),
  event_type      text        NOT NULL,
  payload         bytea       NOT NULL,
  metadata        bytea       NOT NULL,
  idempotency_key text,
  recorded_at     timestamptz NOT NULL,
  prev_hash       bytea       NOT NULL CHECK (length(prev_hash) = 32),
  hash            bytea       NOT NULL CHECK (length(hash) = 32),
  PRIMARY KEY (partition_id, position),
  UNIQUE (partition_id, stream_id, stream_version),
  UNIQUE (partition_id, idempotency_key)
);

-- One row per partition: the last position written and the hash chain's head. An append locks
-- its partition's row FOR UPDATE, so positions are gapless and commit in order.
CREATE TABLE ledger_heads (
  partition_id int    PRIMARY KEY CHECK (partition_id >= 0),
  position     bigint NOT NULL DEFAULT 0 CHECK (position >= 0),
  hash         bytea  NOT NULL DEFAULT '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea
                      CHECK (length(hash) = 32)
);

-- Where a named subscriber has read up to, per partition.
CREATE TABLE subscription_checkpoints (
  subscriber   text   NOT NULL,
  partition_id int    NOT NULL,
  position     bigint NOT NULL CHECK (position >= 0),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (subscriber, partition_id)
);

CREATE FUNCTION events_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'events is append-only: % rejected', TG_OP
    USING ERRCODE = 'insufficient_privilege',
          HINT = 'Corrections are new events.';
END
$$;

CREATE TRIGGER events_no_update_delete
  BEFORE UPDATE OR DELETE ON events
  FOR EACH ROW EXECUTE FUNCTION events_reject_change();

CREATE TRIGGER events_no_truncate
  BEFORE TRUNCATE ON events
  FOR EACH STATEMENT EXECUTE FUNCTION events_reject_change();

REVOKE ALL ON events, ledger_heads, subscription_checkpoints FROM PUBLIC;
GRANT SELECT, INSERT ON events TO tally_app;
GRANT SELECT, UPDATE ON ledger_heads TO tally_app;
GRANT SELECT, INSERT, UPDATE ON subscription_checkpoints TO tally_app;
