-- Bookkeeping for projections (read models). The projection tables themselves are not
-- migrated: each projection creates its versioned tables (proj_<name>_v<N>...) and is rebuilt
-- from the log when its version changes; readers use the stable views.

DO $$
BEGIN
  CREATE ROLE tally_projector NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
  NULL;
END
$$;

-- Which tables serve each projection now.
CREATE TABLE projection_state (
  name          text PRIMARY KEY,
  version       int  NOT NULL,
  tables_suffix text NOT NULL,
  updated_at    timestamptz NOT NULL DEFAULT now(),
  -- Set while `tally projections rebuild` works on a new version, for `projections status`.
  rebuilding    text
);

-- How far each projection has folded each partition, in the same transaction as its tables.
CREATE TABLE projection_checkpoints (
  name           text   NOT NULL,
  partition_id   int    NOT NULL,
  position       bigint NOT NULL DEFAULT 0 CHECK (position >= 0),
  updated_at     timestamptz NOT NULL DEFAULT now(),
  -- A poison event stops the projection on this partition: what failed and where.
  error          text,
  error_position bigint,
  PRIMARY KEY (name, partition_id)
);

GRANT USAGE, CREATE ON SCHEMA public TO tally_projector;
GRANT SELECT ON events, ledger_heads TO tally_projector;
GRANT SELECT, INSERT, UPDATE, DELETE ON projection_state, projection_checkpoints TO tally_projector;
GRANT SELECT ON projection_state, projection_checkpoints TO tally_app;
