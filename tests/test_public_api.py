import importlib
import inspect

import hpsearch


def test_all_is_sorted_and_complete():
    assert hpsearch.__all__ == sorted(hpsearch.__all__)
    for name in hpsearch.__all__:
        assert hasattr(hpsearch, name), name


def test_public_objects_have_docstrings():
    missing = []
    for name in hpsearch.__all__:
        obj = getattr(hpsearch, name)
        if (inspect.isclass(obj) or inspect.isfunction(obj)) and not inspect.getdoc(obj):
            missing.append(name)
    assert missing == []


def test_exceptions_inherit_builtins():
    e = importlib.import_module("hpsearch.exceptions")
    assert issubclass(e.InvalidParameterError, ValueError)
    assert issubclass(e.SearchSpaceError, e.InvalidParameterError)
    assert issubclass(e.StorageError, RuntimeError)
    assert issubclass(e.StudyNotFoundError, KeyError)
    assert issubclass(e.MissingDependencyError, ImportError)
    assert not issubclass(e.TrialStopped, e.HpsearchError)


def test_importing_the_package_stays_light():
    # Worker processes import hpsearch.executors.local; scipy and SQLAlchemy must not come
    # along (they cost seconds per worker on a loaded machine).
    import subprocess
    import sys

    code = ("import sys, hpsearch, hpsearch.executors.local; "
            "print(sorted(m for m in ('scipy', 'sqlalchemy', 'torch', 'ray', 'dask') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
