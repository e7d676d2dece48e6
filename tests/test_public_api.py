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
