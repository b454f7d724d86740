"""The GitHub adapter (issue 22): the App's client for custom deployment protection
rules (``client.py``), the rule's target named in a webhook (``target.py``), retry
decisions (``retry.py``), webhook checks (``webhook.py``), settings (``settings.py``),
the webhook's job mapped to a run (``mapping.py``), the answers owed to GitHub as a gate
listener (``answers.py``, ``comments.py``), the reconciler and the App's deliveries
(``reconcile.py``, ``deliveries.py``), wired by ``wiring.py``. The domain rooms import
nothing of it (import-linter contract).
"""
