-- The idempotency store of HTTP ingest, shared by every `up` and `serve`
-- process of an instance (connectors/sb_idem.c).
--
-- One row per key: the first 128 bits of the SHA-256 of a tenant's event
-- id (the ULID in upper case), so an event id is one event per tenant
-- whichever process, principal or restart sees it again. A request claims
-- the keys of its events under an attempt (a random id of that request)
-- before producing them; once Kafka acknowledged them, and before the
-- answer, the attempt is recorded as done (one row for the request, not one
-- update per event); the claims of events not produced are deleted. A key
-- of a done attempt answers "duplicate" for the idempotency window from its
-- claim; a key whose attempt is not done is "in flight" for the lease,
-- after which it is taken as abandoned (its process died) and may be
-- claimed again. Rows leave only by age, purged in bounded batches: nobody
-- can evict another's.
CREATE TABLE sb.idempotency (
  key        uuid        PRIMARY KEY,
  attempt    bigint      NOT NULL,
  claimed_at timestamptz NOT NULL DEFAULT now()
);
-- rows arrive in time order: a block range index is enough to purge by age
CREATE INDEX idempotency_claimed_at ON sb.idempotency USING brin (claimed_at);

CREATE TABLE sb.idempotency_done (
  attempt bigint      PRIMARY KEY,
  done_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idempotency_done_at ON sb.idempotency_done USING brin (done_at);

COMMENT ON TABLE sb.idempotency IS
  'Claims of HTTP ingest: SHA-256 keys of event ids per tenant, by attempt; purged by age only.';
COMMENT ON TABLE sb.idempotency_done IS
  'Attempts of HTTP ingest whose claimed events Kafka acknowledged.';

-- One round trip a cycle of the store's thread, in one transaction: the
-- released claims and done attempts of finished requests, then the claims
-- of new ones (p_claim[i] under attempt p_attempt[i]). Returns the claims
-- NOT granted, by their 0-based index: 'd' done within the window (a
-- duplicate), 'p' claimed by an attempt not done and within its lease (in
-- flight). Keys are claimed in key order, so that processes claiming
-- overlapping sets do not deadlock.
CREATE FUNCTION sb.idempotency_cycle(p_window_ms bigint, p_lease_ms bigint,
                                     p_claim uuid[], p_attempt bigint[],
                                     p_done bigint[], p_release uuid[],
                                     p_release_attempt bigint[])
RETURNS TABLE (ix integer, state "char")
LANGUAGE plpgsql AS $$
DECLARE
  granted bigint;
BEGIN
  IF cardinality(p_release) > 0 THEN
    DELETE FROM sb.idempotency i
     USING unnest(p_release, p_release_attempt) AS r(k, a)
     WHERE i.key = r.k AND i.attempt = r.a;
  END IF;
  IF cardinality(p_done) > 0 THEN
    INSERT INTO sb.idempotency_done (attempt)
    SELECT unnest(p_done) ON CONFLICT DO NOTHING;
  END IF;
  IF coalesce(cardinality(p_claim), 0) = 0 THEN
    RETURN;
  END IF;
  INSERT INTO sb.idempotency AS i (key, attempt)
  SELECT c.k, c.a FROM unnest(p_claim, p_attempt) AS c(k, a) ORDER BY c.k
  ON CONFLICT (key) DO UPDATE
     SET attempt = EXCLUDED.attempt, claimed_at = now()
   WHERE i.claimed_at < now() - interval '1 ms' *
         CASE WHEN EXISTS (SELECT 1 FROM sb.idempotency_done d
                            WHERE d.attempt = i.attempt)
              THEN p_window_ms ELSE p_lease_ms END;
  GET DIAGNOSTICS granted = ROW_COUNT;
  IF granted = cardinality(p_claim) THEN
    RETURN; -- the usual case: every key was new
  END IF;
  -- a key granted now carries its claim's attempt (unique to a request)
  RETURN QUERY
    SELECT (c.n - 1)::integer,
           CASE WHEN d.attempt IS NOT NULL THEN 'd' ELSE 'p' END::"char"
      FROM unnest(p_claim, p_attempt) WITH ORDINALITY AS c(k, a, n)
      LEFT JOIN sb.idempotency i ON i.key = c.k
      LEFT JOIN sb.idempotency_done d ON d.attempt = i.attempt
     WHERE i.key IS NULL OR i.attempt <> c.a;
END $$;

-- The oldest rows past both the window and the lease, at most p_limit of
-- each table; returns how many keys went. Done attempts are kept an hour
-- longer than the keys that name them. Processes purging at once skip
-- each other's rows.
CREATE FUNCTION sb.idempotency_purge(p_window_ms bigint, p_lease_ms bigint,
                                     p_limit integer)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  horizon timestamptz := now() - greatest(p_window_ms, p_lease_ms)
                                 * interval '1 ms';
  n integer;
BEGIN
  DELETE FROM sb.idempotency
   WHERE key IN (SELECT key FROM sb.idempotency
                  WHERE claimed_at < horizon
                  LIMIT p_limit
                  FOR UPDATE SKIP LOCKED);
  GET DIAGNOSTICS n = ROW_COUNT;
  DELETE FROM sb.idempotency_done
   WHERE attempt IN (SELECT attempt FROM sb.idempotency_done
                      WHERE done_at < horizon - interval '1 hour'
                      LIMIT p_limit
                      FOR UPDATE SKIP LOCKED);
  RETURN n;
END $$;

GRANT SELECT, INSERT, UPDATE, DELETE ON sb.idempotency, sb.idempotency_done
   TO switchboard_app;
GRANT EXECUTE ON FUNCTION
  sb.idempotency_cycle(bigint, bigint, uuid[], bigint[], bigint[], uuid[],
                       bigint[]),
  sb.idempotency_purge(bigint, bigint, integer)
   TO switchboard_app;
