"""Scenario plugins: one Django app per scenario, registered by its AppConfig (see engine.apps)."""
