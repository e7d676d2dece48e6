"""Shipping objectives to workers that cannot import their modules (hpsearch.executors._remote)."""

import importlib.util
import subprocess
import sys
import textwrap

import cloudpickle

from hpsearch.executors._remote import dumps_objective, is_installed_module

MODULE = textwrap.dedent('''
    import functools

    @functools.lru_cache(maxsize=None)
    def data(n):
        return list(range(n))

    class Objective:
        def __init__(self, n):
            self.n = n

        def __call__(self, params):
            return sum(data(self.n)) * params["x"]
''')


def load_file(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_a_file_module_is_shipped_by_value_with_its_cached_functions(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "user_objective_file.py").write_text(MODULE)
    module = load_file(src / "user_objective_file.py", "user_objective_file")
    blob = tmp_path / "objective.pkl"
    blob.write_bytes(dumps_objective(module.Objective(4)))
    (src / "user_objective_file.py").unlink()  # the worker has no copy of the file
    code = ("import cloudpickle, sys; f = cloudpickle.loads(open(sys.argv[1], 'rb').read()); "
            "print(f({'x': 2}), 'user_objective_file' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(blob)], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["12", "False"]
    assert "user_objective_file" not in cloudpickle.list_registry_pickle_by_value(), (
        "the registration is temporary")


def test_a_callers_registration_is_kept_and_installed_modules_go_by_reference(tmp_path):
    (tmp_path / "another_objective_file.py").write_text(MODULE)
    module = load_file(tmp_path / "another_objective_file.py", "another_objective_file")
    cloudpickle.register_pickle_by_value(module)
    try:
        dumps_objective(module.Objective(1))
        assert "another_objective_file" in cloudpickle.list_registry_pickle_by_value()
    finally:
        cloudpickle.unregister_pickle_by_value(module)
    assert is_installed_module("hpsearch.executors.local") and is_installed_module("json")
    assert not is_installed_module("another_objective_file")
