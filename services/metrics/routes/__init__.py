"""HTTP routes, one module per URL collection."""
