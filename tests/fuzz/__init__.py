"""The fuzz suite: bounded mutation of every capture parser (see test_fuzz_analyze.py)."""
