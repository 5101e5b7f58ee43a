-- Data keys of PII (engine/sb_keys.c): one row per (tenant, data subject,
-- generation), the key stored only wrapped under the tenant's key-encryption
-- key (KEK) of kek_version, which lives outside PostgreSQL (the key file).
-- subject_hash is a keyed hash of the subject id (16 hex digits), so the
-- table holds no personal data. Erasure (crypto-shredding) sets erased_at
-- and wipes wrapped; a subject whose newest key is erased gets a new
-- generation for new events, never the old key back.
CREATE TABLE sb.data_keys (
  tenant_id    text        NOT NULL,
  subject_hash text        NOT NULL CHECK (subject_hash ~ '^[0-9a-f]{16}$'),
  gen          integer     NOT NULL CHECK (gen > 0),
  kek_version  integer     NOT NULL CHECK (kek_version > 0),
  wrapped      bytea,
  created_at   timestamptz NOT NULL DEFAULT now(),
  erased_at    timestamptz,
  PRIMARY KEY (tenant_id, subject_hash, gen),
  CHECK ((erased_at IS NULL) = (wrapped IS NOT NULL)),
  CHECK (wrapped IS NULL OR octet_length(wrapped) = 60)
);
COMMENT ON TABLE sb.data_keys IS
  'PII data keys per (tenant, subject hash, generation), wrapped under the tenant KEK of kek_version; erased_at set and wrapped NULL once shredded.';

-- The newest KEK version of each tenant that wrapped a key: a rotation
-- raises it (holding the row while it re-wraps), and a key wrapped under an
-- older version is refused from then on (SQLSTATE SBK01: read the key file
-- again and wrap under the new version).
CREATE TABLE sb.kek_versions (
  tenant_id text    PRIMARY KEY,
  version   integer NOT NULL CHECK (version > 0)
);

-- One round trip of ingest: the current data key of each subject of a
-- batch (p_tenant[i], p_subject[i]), made from p_wrapped[i] (hex, under
-- KEK p_kek[i]) when the subject has none or its newest is erased. Returns
-- for each index its newest key: gen, kek_version, wrapped (NULL when it
-- was erased meanwhile). Volatile: the final SELECT sees a key another
-- process made at the same time (whose INSERT this one's DO NOTHING
-- skipped).
CREATE FUNCTION sb.data_keys_take(p_tenant text[], p_subject text[],
                                  p_kek integer[], p_wrapped text[])
RETURNS TABLE (ix integer, gen integer, kek_version integer, wrapped bytea)
LANGUAGE plpgsql AS $$
DECLARE
  stale integer;
BEGIN
  INSERT INTO sb.kek_versions AS k (tenant_id, version)
  SELECT DISTINCT t, min(v) OVER (PARTITION BY t)
    FROM unnest(p_tenant, p_kek) AS r(t, v)
  ON CONFLICT (tenant_id) DO NOTHING;
  -- waits for a rotation under way (it holds the row), then sees its version
  SELECT count(*) INTO stale
    FROM (SELECT k.version, r.v
            FROM sb.kek_versions k
            JOIN (SELECT DISTINCT t, v FROM unnest(p_tenant, p_kek) AS u(t, v)) r
              ON r.t = k.tenant_id
           ORDER BY k.tenant_id
             FOR SHARE OF k) s
   WHERE s.version > s.v;
  IF stale > 0 THEN
    RAISE EXCEPTION 'data keys wrapped under a retired KEK version'
      USING ERRCODE = 'SBK01';
  END IF;
  INSERT INTO sb.data_keys (tenant_id, subject_hash, gen, kek_version, wrapped)
  SELECT r.t, r.s, COALESCE(n.gen + 1, 1), r.v, decode(r.w, 'hex')
    FROM unnest(p_tenant, p_subject, p_kek, p_wrapped) AS r(t, s, v, w)
    LEFT JOIN LATERAL (SELECT d.gen, d.erased_at FROM sb.data_keys d
                        WHERE d.tenant_id = r.t AND d.subject_hash = r.s
                        ORDER BY d.gen DESC LIMIT 1) n ON true
   WHERE n.gen IS NULL OR n.erased_at IS NOT NULL
   ORDER BY r.t, r.s
  ON CONFLICT DO NOTHING;
  RETURN QUERY
  SELECT (r.i - 1)::integer, n.gen, n.kek_version, n.wrapped
    FROM unnest(p_tenant, p_subject) WITH ORDINALITY AS r(t, s, i)
    JOIN LATERAL (SELECT d.gen, d.kek_version, d.wrapped FROM sb.data_keys d
                   WHERE d.tenant_id = r.t AND d.subject_hash = r.s
                   ORDER BY d.gen DESC LIMIT 1) n ON true;
END $$;

GRANT SELECT, INSERT ON sb.data_keys TO switchboard_app;
GRANT UPDATE (kek_version, wrapped, erased_at) ON sb.data_keys TO switchboard_app;
GRANT SELECT, INSERT, UPDATE ON sb.kek_versions TO switchboard_app;
GRANT EXECUTE ON FUNCTION sb.data_keys_take(text[], text[], integer[], text[])
  TO switchboard_app;
