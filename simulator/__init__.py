"""The store simulator: a faker-built world of stores whose daily snapshots become CSV uploads."""
