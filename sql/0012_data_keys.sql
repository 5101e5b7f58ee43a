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
-- was erased meanwhile). One index probe per subject; a subject another
-- process gave a key at the same time is read again after.
CREATE FUNCTION sb.data_keys_take(p_tenant text[], p_subject text[],
                                  p_kek integer[], p_wrapped text[])
RETURNS TABLE (ix integer, gen integer, kek_version integer, wrapped bytea)
LANGUAGE plpgsql AS $$
DECLARE
  stale integer;
  a_ix integer[];
  a_gen integer[];
  a_kek integer[];
  a_wrapped bytea[];
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
  -- one probe per subject for its newest key; the subjects without a live
  -- one get the key sent, as the next generation; what a concurrent
  -- process inserted first (DO NOTHING skipped it) is read after, in a
  -- statement of its own that sees it
  WITH r AS (
    SELECT (u.i - 1)::integer AS ix, u.t, u.s, u.v, u.w, n.gen, n.kek_version,
           n.wrapped, n.erased_at
      FROM unnest(p_tenant, p_subject, p_kek, p_wrapped) WITH ORDINALITY
           AS u(t, s, v, w, i)
      LEFT JOIN LATERAL (SELECT d.gen, d.kek_version, d.wrapped, d.erased_at
                           FROM sb.data_keys d
                          WHERE d.tenant_id = u.t AND d.subject_hash = u.s
                          ORDER BY d.gen DESC LIMIT 1) n ON true
  ), ins AS (
    INSERT INTO sb.data_keys AS dk (tenant_id, subject_hash, gen, kek_version,
                                    wrapped)
    SELECT r.t, r.s, COALESCE(r.gen + 1, 1), r.v, decode(r.w, 'hex')
      FROM r
     WHERE r.gen IS NULL OR r.erased_at IS NOT NULL
     ORDER BY r.t, r.s
    ON CONFLICT DO NOTHING
    RETURNING dk.tenant_id, dk.subject_hash, dk.gen, dk.kek_version,
              dk.wrapped
  )
  SELECT array_agg(r.ix), array_agg(COALESCE(i.gen, r.gen)),
         array_agg(COALESCE(i.kek_version, r.kek_version)),
         array_agg(COALESCE(i.wrapped, r.wrapped))
    INTO a_ix, a_gen, a_kek, a_wrapped
    FROM r LEFT JOIN ins i ON i.tenant_id = r.t AND i.subject_hash = r.s
   WHERE i.gen IS NOT NULL OR (r.gen IS NOT NULL AND r.erased_at IS NULL);
  RETURN QUERY SELECT * FROM unnest(a_ix, a_gen, a_kek, a_wrapped);
  -- the few another process made meanwhile (DO NOTHING skipped them): read
  -- in a statement of its own, which sees them
  IF coalesce(array_length(a_ix, 1), 0) < array_length(p_tenant, 1) THEN
    RETURN QUERY
    SELECT (u.i - 1)::integer, n.gen, n.kek_version, n.wrapped
      FROM unnest(p_tenant, p_subject) WITH ORDINALITY AS u(t, s, i)
      JOIN LATERAL (SELECT d.gen, d.kek_version, d.wrapped FROM sb.data_keys d
                     WHERE d.tenant_id = u.t AND d.subject_hash = u.s
                     ORDER BY d.gen DESC LIMIT 1) n ON true
     WHERE a_ix IS NULL OR NOT ((u.i - 1)::integer = ANY (a_ix));
  END IF;
END $$;

GRANT SELECT, INSERT ON sb.data_keys TO switchboard_app;
GRANT UPDATE (kek_version, wrapped, erased_at) ON sb.data_keys TO switchboard_app;
GRANT SELECT, INSERT, UPDATE ON sb.kek_versions TO switchboard_app;
GRANT EXECUTE ON FUNCTION sb.data_keys_take(text[], text[], integer[], text[])
  TO switchboard_app;
