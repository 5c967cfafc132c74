"""The three Lodestar services; none imports another."""
