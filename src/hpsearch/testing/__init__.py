"""Conformance suites that every implementation of an hpsearch protocol must pass.

* :mod:`hpsearch.testing.schedulers`: schedulers (``check_scheduler``), with a fake-clock
  simulator of a study (``simulate``) and synthetic learning curves (``synthetic_curves``).
* :mod:`hpsearch.testing.storage`: storage back ends (``check_storage``, ``CHECKS``), each check
  on the URL of an empty database.

Import the submodule you need; this package imports nothing heavy on its own.
"""
