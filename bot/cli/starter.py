"""The commented starter ``preprod.yml`` that ``preprod init`` writes: a file that validates
as soon as its two environment variables are set, and explains every section."""

from __future__ import annotations

ENV_VARS = ("STAGING_URL", "STAGING_TOKEN")
"""The variables the starter reads; `preprod init` names them after writing the file."""

STARTER = """\
# preprod.yml: what `preprod check` validates before a release goes to production.
# Written by `preprod init`. Reference: docs/configuration.md (`make docs` builds the site);
# `preprod checks` lists every kind of check with its options.
#
# Secrets never live in this file: ${VAR} reads an environment variable (an unset one is
# an error), ${VAR:-default} gives a default. This file reads two:
#   STAGING_URL    the staging service's base URL, e.g. https://staging.internal.example
#   STAGING_TOKEN  a bearer token the checks send (use any value if none is needed)
#
# Then:
#   preprod config validate --config preprod.yml
#   preprod check --config preprod.yml --env staging --service my-service --release 1.0.0

# --- Slack bot only (`preprod serve`); `preprod check` ignores these ----------------------
# channel: C0RELEASES              # the release channel's id
timezone: UTC                      # IANA zone for schedules, e.g. Europe/Berlin
roles:                             # who may sign off: replace with your Slack user ids,
  sre: {label: SRE, members: [U0SRE1]}           # or give a `usergroup: S0...` id
  security: {label: Security, members: [U0SEC1]}
policy:
  required_signoffs: [sre, security]
  requester_may_sign: false        # four eyes: the person who started a run may not
  requester_may_waive: false       # approve it, waive its failures or tick its
  requester_may_attest: false      # blocking attestations
  signoff_deadline: 24h
  waivers_by: [sre]                # who may waive a failed non-critical check
# audit:                           # publish the audit trail's head outside the database
#   channel: C0AUDIT               # a daily signed checkpoint message (PREPROD_SIGNING_KEY_FILE)
#   checkpoint: "0 6 * * *"        # when, in `timezone`
#   file: /var/log/preprod/checkpoints.log

# --- Where to validate --------------------------------------------------------------------
environments:
  staging:
    base_url: ${STAGING_URL}
    plan: standard                 # a key of `plans` below
    # started_by: [sre]            # who may start runs here from Slack (default: anyone;
                                   # a plan with drills: the roles that sign)
    headers:                       # sent by every check (credential values are redacted)
      Authorization: "Bearer ${STAGING_TOKEN}"
    # ca_bundle: certs/internal-ca.pem   # a private CA, relative to this file

# --- What to validate ---------------------------------------------------------------------
plans:
  standard:
    description: Everything a release must pass before production.
    attestations:                  # items only a person can confirm, ticked in Slack
      - {id: oncall, text: On-call rotation staffed for the release window, role: sre}
    checks:
      # Every check: id, type, critical (default true: a failure blocks the release),
      # timeout, description.
      - id: smoke
        type: http
        requests:
          - {path: /healthz, expect_status: 200, max_ms: 500}
      - id: headers
        type: security_headers
        critical: false            # reported, but does not block the release
      - id: tls                    # for an https:// base_url
        type: tls
        min_version: TLSv1.2
        min_days_valid: 14
      # - id: auth
      #   type: auth_required
      #   paths: [/admin]
      # - id: load                 # a Locust load test; see docs/LOAD.md
      #   type: load
      #   users: 20
      #   spawn_rate: 10
      #   duration: 1m
      #   thresholds: ["p95 < 500ms", "error_rate < 1%"]
      #   tasks: [{path: /healthz}]
"""
