"""Unit tests of the alerts service's pure core."""
