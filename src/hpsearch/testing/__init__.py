"""Conformance suites that every searcher, scheduler, storage and executor must pass."""
