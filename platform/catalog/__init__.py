"""Catalog: users, items, interactions, event types and API keys, plus the ingestion API."""
