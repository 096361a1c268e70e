"""Coupons: personalized offers chosen by uplift (incremental purchases) under each budget."""
