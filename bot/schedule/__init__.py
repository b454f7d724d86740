"""Reminders: digests, nudges, deadline warnings. Pure decisions plus jobs that ask the
database what is due; Slack is told through a ``Notifier`` the web room supplies."""
