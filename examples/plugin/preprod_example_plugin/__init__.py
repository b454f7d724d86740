"""An example preprod plug-in: the ``latency_budget`` check kind."""
