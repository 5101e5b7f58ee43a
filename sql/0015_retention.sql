-- Retention (engine/sb_retention.c, processors/retention): the cutoff of
-- every (tenant, class) a purge enforced. Rows of a table declaring the
-- class dated before its tenant's cutoff are deleted by the purge and never
-- written again by the kit (a replay or rebuild does not bring them back).
-- A cutoff only moves forward (a purge keeps the greater).
CREATE TABLE sb.retention_cutoffs (
  tenant_id  text        NOT NULL,
  class      text        NOT NULL CHECK (class ~ '^[a-z][a-z0-9_]{0,31}$'),
  cutoff     timestamptz NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, class)
);
COMMENT ON TABLE sb.retention_cutoffs IS
  'Per tenant and retention class: rows dated before cutoff were purged and are not written again.';
GRANT SELECT, INSERT, UPDATE ON sb.retention_cutoffs TO switchboard_app;

-- When a data key last sealed a value: made with the key, moved by the key
-- store at most once a day (below), so a subject whose keys sealed nothing
-- for longer than the tenant's `subject` policy can be shredded.
ALTER TABLE sb.data_keys ADD COLUMN last_sealed_at timestamptz;
UPDATE sb.data_keys SET last_sealed_at = created_at;
ALTER TABLE sb.data_keys ALTER COLUMN last_sealed_at SET DEFAULT now(),
                         ALTER COLUMN last_sealed_at SET NOT NULL;
CREATE INDEX data_keys_idle ON sb.data_keys (tenant_id, last_sealed_at)
  WHERE erased_at IS NULL;
GRANT UPDATE (last_sealed_at) ON sb.data_keys TO switchboard_app;

-- Ingest's one round trip for data keys (sql/0012) also marks the live keys
-- it hands out as used, when their mark is over a day old: after the keys
-- are taken (the lock order of a rotation: the tenant's version row, then
-- its keys), in the same statement.
ALTER FUNCTION sb.data_keys_take(text[], text[], integer[], text[])
  RENAME TO data_keys_take_0012;
CREATE FUNCTION sb.data_keys_take(p_tenant text[], p_subject text[],
                                  p_kek integer[], p_wrapped text[])
RETURNS TABLE (ix integer, gen integer, kek_version integer, wrapped bytea)
LANGUAGE plpgsql AS $$
BEGIN
  RETURN QUERY SELECT * FROM sb.data_keys_take_0012(p_tenant, p_subject,
                                                     p_kek, p_wrapped);
  -- rows locked in one order (two sealers never deadlock on them)
  UPDATE sb.data_keys d SET last_sealed_at = now()
    FROM (SELECT k.tenant_id, k.subject_hash, k.gen
            FROM sb.data_keys k
            JOIN (SELECT DISTINCT t, s FROM unnest(p_tenant, p_subject)
                    AS u(t, s)) u ON k.tenant_id = u.t AND k.subject_hash = u.s
           WHERE k.erased_at IS NULL
             AND k.last_sealed_at < now() - interval '1 day'
           ORDER BY 1, 2, 3
             FOR UPDATE OF k) l
   WHERE d.tenant_id = l.tenant_id AND d.subject_hash = l.subject_hash
     AND d.gen = l.gen AND d.erased_at IS NULL;
END $$;
GRANT EXECUTE ON FUNCTION sb.data_keys_take(text[], text[], integer[], text[])
  TO switchboard_app;
GRANT EXECUTE ON FUNCTION sb.data_keys_take_0012(text[], text[], integer[],
                                                 text[]) TO switchboard_app;
