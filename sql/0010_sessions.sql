-- Dashboard sessions (POST /v1/session, DELETE /v1/session; see
-- connectors/auth/sb_authz.h). The cookie carries 32 random bytes; only
-- their SHA-256 is kept here, so this table does not let anyone sign in.
-- session_id is the session's public name (a ULID), the one the
-- access.recorded LOGIN / LOGOUT events carry. Every serving process keeps
-- the live sessions in memory and follows this table through NOTIFY
-- sb_sessions (the hex of id_hash), so a sign-out on one process is refused
-- by the others within milliseconds. Rows are purged a day after they
-- ended or expired.
CREATE TABLE sb.sessions (
  id_hash    bytea       PRIMARY KEY CHECK (length(id_hash) = 32),
  session_id text        NOT NULL UNIQUE,
  tenant_id  text        NOT NULL,
  user_id    text        NOT NULL,
  role       text        NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  ended_at   timestamptz,
  end_reason text,
  ip         text,
  user_agent text
);
CREATE INDEX sessions_live ON sb.sessions (tenant_id, user_id, created_at)
  WHERE ended_at IS NULL;
CREATE INDEX sessions_expiry ON sb.sessions (expires_at);
GRANT SELECT, INSERT, UPDATE, DELETE ON sb.sessions TO switchboard_app;

CREATE FUNCTION sb.sessions_notify() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
  PERFORM pg_notify('sb_sessions', encode(CASE WHEN TG_OP = 'DELETE'
                                          THEN OLD.id_hash ELSE NEW.id_hash
                                          END, 'hex'));
  RETURN NULL;
END $f$;
CREATE TRIGGER sessions_notify AFTER INSERT OR UPDATE OR DELETE
  ON sb.sessions FOR EACH ROW EXECUTE FUNCTION sb.sessions_notify();
