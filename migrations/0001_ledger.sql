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

-- Writes one planned batch (see ledger/partition_appender.h): waits for the partition's head
-- lock, and only if the head is where the batch was planned (position and hash) and every
-- claimed stream version holds, inserts the rows, moves the head and notifies subscribers.
-- Returns false, having written nothing, when the plan is stale (the head is elsewhere, or a
-- claimed version is not there). Each statement below takes a
-- fresh snapshot after the lock is held, so a batch planned on top of one still committing
-- sees that batch once it has committed. Keys and stream versions are guarded by the unique
-- indexes: a violation aborts the whole batch.
CREATE FUNCTION ledger_append_batch(
    p_partition int, p_head_position bigint, p_head_hash bytea, p_new_hash bytea,
    p_recorded_at timestamptz, p_stream_ids text[], p_stream_versions int[],
    p_event_types text[], p_keys text[], p_payload_at int[], p_payload_len int[],
    p_metadata_at int[], p_metadata_len int[], p_payloads bytea, p_metadata bytea,
    p_hashes bytea, p_first_prev_hash bytea, p_claimed_streams text[], p_claimed_versions int[])
  RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
  current_position bigint;
  current_hash bytea;
  n int := cardinality(p_stream_ids);
BEGIN
  SELECT position, hash INTO current_position, current_hash
    FROM ledger_heads WHERE partition_id = p_partition FOR UPDATE;
  IF current_position <> p_head_position OR current_hash <> p_head_hash THEN
    RETURN false;
  END IF;
  IF EXISTS (SELECT 1 FROM unnest(p_claimed_streams, p_claimed_versions) AS s(id, version)
             WHERE NOT EXISTS (SELECT 1 FROM events e
                               WHERE e.partition_id = p_partition AND e.stream_id = s.id
                                 AND e.stream_version = s.version)) THEN
    RETURN false;
  END IF;
  INSERT INTO events (partition_id, position, stream_id, stream_version, event_type, payload,
                      metadata, idempotency_key, recorded_at, prev_hash, hash)
  SELECT p_partition, p_head_position + r.n, r.stream_id, r.stream_version, r.event_type,
         substring(p_payloads FROM r.payload_at FOR r.payload_len),
         substring(p_metadata FROM r.metadata_at FOR r.metadata_len),
         r.idempotency_key, p_recorded_at,
         CASE WHEN r.n = 1 THEN p_first_prev_hash
              ELSE substring(p_hashes FROM ((r.n - 2) * 32 + 1)::int FOR 32) END,
         substring(p_hashes FROM ((r.n - 1) * 32 + 1)::int FOR 32)
  FROM unnest(p_stream_ids, p_stream_versions, p_event_types, p_keys, p_payload_at,
              p_payload_len, p_metadata_at, p_metadata_len)
       WITH ORDINALITY AS r(stream_id, stream_version, event_type, idempotency_key, payload_at,
                            payload_len, metadata_at, metadata_len, n);
  UPDATE ledger_heads SET position = p_head_position + n, hash = p_new_hash
   WHERE partition_id = p_partition;
  PERFORM pg_notify('tally_events_' || p_partition, (p_head_position + n)::text);
  RETURN true;
END
$$;

REVOKE ALL ON FUNCTION ledger_append_batch FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ledger_append_batch TO tally_app;

REVOKE ALL ON events, ledger_heads, subscription_checkpoints FROM PUBLIC;
GRANT SELECT, INSERT ON events TO tally_app;
GRANT SELECT, UPDATE ON ledger_heads TO tally_app;
GRANT SELECT, INSERT, UPDATE ON subscription_checkpoints TO tally_app;
