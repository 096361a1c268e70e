"""Stub scenarios, one per kind that products does not cover, written only from
docs/writing-a-scenario.md. tests/settings.py enables them for the test run; the engine's
contract tests (tests/engine/test_scenario_contract.py) run over them like any scenario."""
