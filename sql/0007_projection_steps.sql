-- Projection migrations: the ordered DDL steps of each processor's
-- projection, recorded per schema as they are applied
-- (engine/sb_projection.c). A schema is known by its oid, so the records
-- follow it when a replay's generation is renamed into the live name; the
-- name is kept for people. A recorded step whose text changed, or one the
-- binary does not know, stops the processor with a message naming it.
CREATE TABLE sb.projection_steps (
  schema_oid  oid         NOT NULL,
  version     integer     NOT NULL CHECK (version > 0),
  schema_name text        NOT NULL, -- when the step was applied
  processor   text        NOT NULL,
  sha256      text        NOT NULL, -- of the step's text, "{schema}" unreplaced
  applied_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (schema_oid, version)
);
-- workers check that their projection is up to date; only the owner
-- applies steps (the application role runs no DDL)
GRANT SELECT ON sb.projection_steps TO switchboard_app;
