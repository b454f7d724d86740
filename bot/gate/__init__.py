"""The release gate: the decision policy (pure), sign-off / waiver / attestation actions,
role membership. It records and decides; adapters (Slack, web) show what it emits."""
