-- Processors and their live projection.
--
-- Each processor keeps its projection tables in a schema of its own name.
-- consumer_group names the offsets (in sb.consumer_offsets) that account
-- for what the live tables hold; a replay builds a new generation beside
-- the live one and swaps it in by renaming schemas and bumping generation
-- in one transaction. Workers check generation in every batch and re-seek
-- when it moved.
CREATE TABLE sb.processors (
  name           text        PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_]*$'),
  consumer_group text        NOT NULL,
  generation     integer     NOT NULL DEFAULT 1,
  swapped_at     timestamptz
);

-- The role the engine works as: it may read and append, and nothing more
-- where a table says so (the audit log grants no UPDATE or DELETE).
DO $$
BEGIN
  CREATE ROLE switchboard_app NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
  NULL; -- roles are cluster-wide: another database made it
END $$;

GRANT USAGE ON SCHEMA sb TO switchboard_app;
GRANT SELECT, INSERT, UPDATE ON sb.consumer_offsets TO switchboard_app;
-- FOR SHARE (the per-batch generation check) needs an UPDATE privilege
GRANT SELECT, UPDATE (swapped_at) ON sb.processors TO switchboard_app;
