"""The GitHub adapter (issue 22, in progress): the App's client for custom deployment
protection rules (``client.py``), the rule's target named in a webhook (``target.py``),
retry decisions (``retry.py``), webhook checks (``webhook.py``) and settings
(``settings.py``). The domain rooms import nothing of it (import-linter contract).
"""
