"""QUERY_ANSWERS stub: FAQ entries ranked by word overlap with the question."""
