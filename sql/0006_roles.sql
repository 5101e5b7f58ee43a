-- Least privilege: who may do what in the database.
--
--   owner (whoever runs the migrations: the private server's superuser, or
--   the operator's owner role in production) owns every schema, table and
--   function, runs all DDL, and is used for nothing else.
--   switchboard_app logs in as itself (LOGIN, its own password); workers,
--   serve and the commands that read or append use it. It may read and
--   append, and where a table says so not change or delete (the audit log);
--   it owns nothing, so it can DROP, TRUNCATE or ALTER nothing; it creates
--   the audit log's month partitions only through the owner's SECURITY
--   DEFINER audit.ensure_month. It writes every tenant's rows, so row-level
--   security does not bind it (BYPASSRLS).
--   switchboard_reader (NOLOGIN) holds what dashboards may read: SELECT on
--   the projections' tables, bound by row-level security to one tenant.
--   Each dashboard login is a member of it and is mapped to its tenant in
--   sb.reader_logins; logins that are not mapped see no rows.
--
-- Roles are cluster-wide. On the private server `up` creates and checks
-- them before the migrations; in production the operator creates them (see
-- README, "Database roles") and this migration refuses roles that could do
-- more than this.

DO $$
BEGIN
  CREATE ROLE switchboard_reader NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
  NULL; -- another database of the cluster made it
END $$;

-- The application and reader roles hold no attribute and no membership
-- that reaches past their grants: no superuser, CREATEROLE, CREATEDB,
-- replication, and none of the roles that read or write the server's files
-- or run programs on its host (COPY ... PROGRAM).
DO $$
DECLARE
  su boolean := (SELECT rolsuper FROM pg_roles WHERE rolname = current_user);
  r record;
  bad text;
BEGIN
  FOR r IN SELECT rolname, rolsuper, rolcreaterole, rolcreatedb,
                  rolreplication, rolbypassrls
           FROM pg_roles
           WHERE rolname IN ('switchboard_app', 'switchboard_reader') LOOP
    IF r.rolsuper OR r.rolcreaterole OR r.rolcreatedb OR r.rolreplication OR
       (r.rolname = 'switchboard_reader' AND r.rolbypassrls) THEN
      IF NOT su THEN
        RAISE EXCEPTION 'role % may do more than Switchboard allows it '
          '(SUPERUSER, CREATEROLE, CREATEDB, REPLICATION or, for the reader, '
          'BYPASSRLS)', r.rolname
          USING HINT = 'ALTER ROLE ' || r.rolname || ' NOSUPERUSER '
            'NOCREATEROLE NOCREATEDB NOREPLICATION, as a superuser';
      END IF;
      EXECUTE format('ALTER ROLE %I NOSUPERUSER NOCREATEROLE NOCREATEDB '
                     'NOREPLICATION', r.rolname);
      IF r.rolname = 'switchboard_reader' THEN
        ALTER ROLE switchboard_reader NOBYPASSRLS;
      END IF;
    END IF;
    IF r.rolname = 'switchboard_app' AND NOT r.rolbypassrls THEN
      IF NOT su THEN
        RAISE EXCEPTION 'role switchboard_app lacks BYPASSRLS: it writes '
          'every tenant''s rows of tables that row-level security binds '
          'for readers'
          USING HINT = 'ALTER ROLE switchboard_app BYPASSRLS, as a superuser';
      END IF;
      ALTER ROLE switchboard_app BYPASSRLS;
    END IF;
  END LOOP;
  FOR r IN SELECT m.rolname AS member, g.rolname AS granted
           FROM pg_auth_members a
           JOIN pg_roles m ON m.oid = a.member
           JOIN pg_roles g ON g.oid = a.roleid
           WHERE m.rolname IN ('switchboard_app', 'switchboard_reader') LOOP
    -- the two roles are members of nothing but, for a reader login, the
    -- reader role; anything else (pg_execute_server_program, pg_read_all_data,
    -- an owner...) is taken away, or refused
    IF NOT su THEN
      RAISE EXCEPTION 'role % is a member of %, which reaches past what '
        'Switchboard grants it', r.member, r.granted
        USING HINT = format('REVOKE %I FROM %I', r.granted, r.member);
    END IF;
    EXECUTE format('REVOKE %I FROM %I', r.granted, r.member);
  END LOOP;
END $$;

GRANT SELECT ON sb_schema_migrations TO switchboard_app;

-- Dashboard logins and their tenant: a login of the reader role sees the
-- rows of this tenant only. Written by the owner (`switchboard postgres url
-- --role reader --tenant T` on the private server, or the operator).
CREATE TABLE sb.reader_logins (
  role_name name PRIMARY KEY,
  tenant_id text NOT NULL CHECK (tenant_id ~ '^[A-Za-z0-9._-]{1,64}$'),
  created_at timestamptz NOT NULL DEFAULT now()
);

-- The tenant of the session's login. SECURITY DEFINER: readers cannot read
-- sb.reader_logins itself. session_user, not current_user: SET ROLE inside
-- a session changes nothing.
CREATE FUNCTION sb.reader_tenant() RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
  SELECT tenant_id FROM sb.reader_logins WHERE role_name = session_user
$$;
REVOKE EXECUTE ON FUNCTION sb.reader_tenant() FROM PUBLIC;
GRANT USAGE ON SCHEMA sb TO switchboard_reader;
GRANT EXECUTE ON FUNCTION sb.reader_tenant() TO switchboard_reader;

-- Opens a projection schema to readers: every table of it with a tenant_id
-- column gets row-level security and a policy that lets readers SELECT the
-- rows of their tenant; tables without one stay closed to them. Called by
-- the owner when it creates a projection (live or a replay's generation).
CREATE FUNCTION sb.protect_projection(p_schema text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE t record;
BEGIN
  EXECUTE format('GRANT USAGE ON SCHEMA %I TO switchboard_reader', p_schema);
  FOR t IN SELECT c.relname FROM pg_class c
           JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = p_schema AND c.relkind IN ('r', 'p')
             AND NOT c.relispartition
             AND EXISTS (SELECT 1 FROM pg_attribute a
                         WHERE a.attrelid = c.oid AND a.attname = 'tenant_id'
                           AND NOT a.attisdropped) LOOP
    EXECUTE format('ALTER TABLE %I.%I ENABLE ROW LEVEL SECURITY',
                   p_schema, t.relname);
    EXECUTE format('DROP POLICY IF EXISTS reader_tenant ON %I.%I',
                   p_schema, t.relname);
    EXECUTE format('CREATE POLICY reader_tenant ON %I.%I FOR SELECT TO '
                   'switchboard_reader USING (tenant_id = sb.reader_tenant())',
                   p_schema, t.relname);
    EXECUTE format('GRANT SELECT ON %I.%I TO switchboard_reader',
                   p_schema, t.relname);
  END LOOP;
END $$;
REVOKE EXECUTE ON FUNCTION sb.protect_projection(text) FROM PUBLIC;

SELECT sb.protect_projection(name) FROM sb.processors
WHERE to_regnamespace(name) IS NOT NULL;
