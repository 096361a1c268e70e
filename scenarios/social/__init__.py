"""Social scenario: people you may know, with reasons, blocks and opt-out."""
