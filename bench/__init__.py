"""Benchmarks of what an operator feels (``make bench``); not part of the test suite."""
