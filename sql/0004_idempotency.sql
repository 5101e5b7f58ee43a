-- The idempotency store of HTTP ingest, shared by every `up` and `serve`
-- process of an instance (connectors/sb_idem.c).
--
-- One row per key: the SHA-256 of a tenant's event id (ULID in upper case),
-- so an event id is one event per tenant whichever process, principal or
-- restart sees it again. A process claims a key before producing the event
-- (owner, claimed_at, done = false), marks it done once Kafka acknowledged
-- it and before answering, or deletes its claim when the event was not
-- produced. A done row answers "duplicate" for the idempotency window from
-- its claim; a claim not done is "in flight" for the lease, after which it
-- is taken as abandoned (its process died) and may be claimed again. Rows
-- leave only by age, purged in bounded batches: nobody can evict another's.
CREATE TABLE sb.idempotency (
  key        bytea       PRIMARY KEY CHECK (octet_length(key) = 32),
  owner      bigint      NOT NULL,
  claimed_at timestamptz NOT NULL DEFAULT now(),
  done       boolean     NOT NULL DEFAULT false
) WITH (fillfactor = 80); -- room for the done update to stay on the page

CREATE INDEX idempotency_claimed_at ON sb.idempotency (claimed_at);

COMMENT ON TABLE sb.idempotency IS
  'Claims of HTTP ingest: SHA-256 keys of event ids per tenant; purged by age only.';

-- One round trip a cycle of the store's thread: the done marks and
-- released claims of finished requests, then the claims of new ones, in
-- one transaction. The keys come concatenated, 32 bytes each. Returns the
-- claims NOT granted, by their 0-based index in p_claim: 'd' done within
-- the window (a duplicate), 'p' claimed by an attempt still in its lease
-- (in flight). Keys are claimed in key order, so that processes claiming
-- overlapping sets do not deadlock.
CREATE FUNCTION sb.idempotency_cycle(p_owner bigint, p_window_ms bigint,
                                     p_lease_ms bigint, p_claim bytea,
                                     p_done bytea, p_release bytea)
RETURNS TABLE (ix integer, state "char")
LANGUAGE plpgsql AS $$
DECLARE
  n_claim integer := octet_length(p_claim) / 32;
  granted bigint;
BEGIN
  IF octet_length(p_done) > 0 THEN
    UPDATE sb.idempotency i SET done = true
     WHERE i.key IN (SELECT substring(p_done FROM g * 32 + 1 FOR 32)
                       FROM generate_series(0, octet_length(p_done) / 32 - 1) g)
       AND i.owner = p_owner AND NOT i.done;
  END IF;
  IF octet_length(p_release) > 0 THEN
    DELETE FROM sb.idempotency i
     WHERE i.key IN (SELECT substring(p_release FROM g * 32 + 1 FOR 32)
                       FROM generate_series(0, octet_length(p_release) / 32 - 1) g)
       AND i.owner = p_owner AND NOT i.done;
  END IF;
  IF n_claim = 0 THEN
    RETURN;
  END IF;
  INSERT INTO sb.idempotency AS i (key, owner)
  SELECT k, p_owner
    FROM (SELECT substring(p_claim FROM g * 32 + 1 FOR 32) AS k
            FROM generate_series(0, n_claim - 1) g) c
   ORDER BY k
  ON CONFLICT (key) DO UPDATE
     SET owner = p_owner, claimed_at = now(), done = false
   WHERE (i.done AND i.claimed_at < now() - p_window_ms * interval '1 ms')
      OR (NOT i.done AND i.claimed_at < now() - p_lease_ms * interval '1 ms');
  GET DIAGNOSTICS granted = ROW_COUNT;
  IF granted = n_claim THEN
    RETURN; -- the usual case: every key was new
  END IF;
  -- a row claimed in this transaction has this owner and now(): granted
  RETURN QUERY
    SELECT c.g, CASE WHEN i.done THEN 'd' ELSE 'p' END::"char"
      FROM (SELECT g::integer AS g, substring(p_claim FROM g * 32 + 1 FOR 32) AS k
              FROM generate_series(0, n_claim - 1) g) c
      LEFT JOIN sb.idempotency i ON i.key = c.k
     WHERE i.key IS NULL
        OR NOT (i.owner = p_owner AND i.claimed_at = now() AND NOT i.done);
END $$;

-- Oldest rows past both the window and the lease, at most p_limit of them;
-- returns how many went. Processes purging at once skip each other's rows.
CREATE FUNCTION sb.idempotency_purge(p_window_ms bigint, p_lease_ms bigint,
                                     p_limit integer)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  n integer;
BEGIN
  DELETE FROM sb.idempotency
   WHERE key IN (SELECT key FROM sb.idempotency
                  WHERE claimed_at < now() - greatest(p_window_ms, p_lease_ms)
                                             * interval '1 ms'
                  ORDER BY claimed_at
                  LIMIT p_limit
                  FOR UPDATE SKIP LOCKED);
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END $$;

GRANT SELECT, INSERT, UPDATE, DELETE ON sb.idempotency TO switchboard_app;
GRANT EXECUTE ON FUNCTION sb.idempotency_cycle(bigint, bigint, bigint, bytea,
                                               bytea, bytea),
                          sb.idempotency_purge(bigint, bigint, integer)
   TO switchboard_app;
