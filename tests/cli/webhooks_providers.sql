-- Test helper: comms.providers exactly as the shared contract of issue 16
-- has it (docs: /work/wt/prompts/design16.md), until the comms
-- processor's migrations land; then the test uses theirs and this file
-- goes. Run as the private server's superuser.
CREATE SCHEMA IF NOT EXISTS comms;
CREATE TABLE IF NOT EXISTS comms.providers (
  tenant_id text NOT NULL,
  account_id text NOT NULL,
  provider text NOT NULL,
  base_url text,
  from_address text,
  username text,
  secret_sealed text,
  secret2_sealed text,
  channels text[],
  is_default bool NOT NULL DEFAULT false,
  event_id text,
  configured_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, account_id));
GRANT USAGE ON SCHEMA comms TO switchboard_app;
GRANT SELECT ON comms.providers TO switchboard_app;
