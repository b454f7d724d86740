"""A small "checkout-api" service to validate: healthy by default, with switchable defects.

Run it with ``python examples/target/server.py``; see ``server.py`` for the options.
"""
