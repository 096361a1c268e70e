"""Loaders for public dataset formats, and the deterministic demo-data generator."""
