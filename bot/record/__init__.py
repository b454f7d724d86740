"""A run on record, as plain values: its report (what the checks found, the verdict) and
the lines of what people and the gate did about it. The engine writes them, the store
keeps them, the gate, Slack, the pages and the reports read them; this room imports none
of those."""
