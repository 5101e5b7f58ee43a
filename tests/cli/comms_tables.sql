-- Until the comms processor's migrations land (issue 16, part M): the
-- tables the dispatcher reads and updates, exactly as the shared contract
-- (prompts/design16.md) names their columns. Run as the superuser by
-- tests/cli/dispatch.sh; drop this file once processors/comms creates them.
CREATE SCHEMA IF NOT EXISTS comms;
GRANT USAGE ON SCHEMA comms TO switchboard_app;
CREATE TABLE IF NOT EXISTS comms.templates (
  tenant_id text NOT NULL, template_id text NOT NULL, version text NOT NULL,
  channel text NOT NULL, locale text NOT NULL, subject_template text,
  body_template text NOT NULL, max_length int, published_at timestamptz,
  PRIMARY KEY (tenant_id, template_id, version, locale));
CREATE TABLE IF NOT EXISTS comms.providers (
  tenant_id text NOT NULL, account_id text NOT NULL, provider text NOT NULL,
  base_url text, from_address text, username text, secret_sealed text,
  secret2_sealed text, channels text[], is_default bool, event_id text,
  configured_at timestamptz, PRIMARY KEY (tenant_id, account_id));
CREATE TABLE IF NOT EXISTS comms.outbox (
  tenant_id text NOT NULL, message_id text NOT NULL, channel text NOT NULL,
  account_id text, to_sealed text, from_address text, subject_sealed text,
  body_sealed text, template_id text, template_version text,
  variables_sealed text, request_event_id text, lead_id text, agent_id text,
  campaign_id text, not_before timestamptz, created_at timestamptz NOT NULL
  DEFAULT now(), state text NOT NULL DEFAULT 'pending' CHECK (state IN
  ('pending', 'sending', 'sent', 'failed')), attempts int NOT NULL DEFAULT 0,
  claimed_by text, claimed_until timestamptz, last_error text,
  provider_message_id text, sent_at timestamptz,
  PRIMARY KEY (tenant_id, message_id));
CREATE INDEX IF NOT EXISTS outbox_due ON comms.outbox (state, not_before);
GRANT SELECT ON comms.templates, comms.providers TO switchboard_app;
GRANT SELECT, INSERT ON comms.outbox TO switchboard_app;
GRANT UPDATE (state, attempts, claimed_by, claimed_until, last_error,
  provider_message_id, sent_at, not_before) ON comms.outbox TO switchboard_app;
