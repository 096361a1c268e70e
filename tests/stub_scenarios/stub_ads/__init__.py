"""SLOT_ADS stub: ads ranked for a slot by smoothed click-through rate times bid."""
