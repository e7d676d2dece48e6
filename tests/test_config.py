"""The YAML study file: validation messages, the objective loader, building a run."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import cloudpickle
import pytest
import yaml

from hpsearch import ConfigError, HpsearchError, StorageError, create_study, open_storage
from hpsearch._objective import load_objective
from hpsearch.config import (
    STUDY_FILE_KEY,
    load_study_file,
    parse_study_config,
    prepare_resume,
    prepare_run,
)
from hpsearch.executors import InlineExecutor, LocalExecutor

OBJECTIVE = """
def objective(params, reporter=None):
    return {"value": (params["x"] - 1) ** 2}

NOT_CALLABLE = 3
"""


@pytest.fixture(autouse=True)
def isolated_imports(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """Undo what loading objective files does to sys.path and sys.modules."""
    before = set(sys.modules)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.chdir(tmp_path)
    yield
    for name in set(sys.modules) - before:
        f = getattr(sys.modules[name], "__file__", None) or ""
        if f.startswith(str(tmp_path)) or name.startswith("_hpsearch_objective_"):
            del sys.modules[name]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def study_yaml(tmp_path: Path, extra: str = "", *, space: str = "{x: {uniform: [-3, 3]}}",
               name: str = "s") -> Path:
    write(tmp_path / "obj.py", OBJECTIVE)
    return write(tmp_path / "study.yaml", f"name: {name}\nobjective: obj.py:objective\n"
                 f"space: {space}\nexecutor: inline\nstorage: sqlite:///{tmp_path}/db.sqlite\n"
                 + extra)


def test_valid_file_with_defaults(tmp_path: Path) -> None:
    cfg = load_study_file(study_yaml(tmp_path, "n_trials: 4\nseed: 3\n"))
    assert (cfg.name, cfg.metric, cfg.mode, cfg.n_trials, cfg.seed) == ("s", "value", "min", 4, 3)
    assert cfg.base_dir == tmp_path.resolve()
    assert cfg.path == (tmp_path / "study.yaml").resolve()
    assert cfg.executor_spec() == ("inline", {})
    assert cfg.to_dict()["space"] == {"x": {"uniform": [-3, 3]}}


def test_default_storage_is_relative_to_cwd(tmp_path: Path) -> None:
    write(tmp_path / "obj.py", OBJECTIVE)
    p = write(tmp_path / "sub" / "study.yaml",
              "name: s\nobjective: ../obj.py:objective\nspace: {x: {uniform: [0, 1]}}\n")
    cfg = load_study_file(p)
    assert cfg.storage == "sqlite:///hpsearch.db"
    assert cfg.base_dir == (tmp_path / "sub").resolve()


def test_n_workers_goes_to_the_executor(tmp_path: Path) -> None:
    text = study_yaml(tmp_path).read_text()
    text = text.replace("executor: inline", "executor: {local: {n_workers: 1}}")
    cfg = parse_study_config(yaml.safe_load(text), overrides={"n_workers": 2})
    assert cfg.executor_spec() == ("local", {"n_workers": 2})
    cfg = parse_study_config(yaml.safe_load(text), overrides={"executor": "local"})
    assert cfg.executor_spec() == ("local", {"n_workers": 1})  # the file's args are kept
    cfg = parse_study_config(yaml.safe_load(text), overrides={"executor": "inline"})
    assert cfg.executor_spec() == ("inline", {})
    cfg = parse_study_config(yaml.safe_load(text), overrides={"executor": "ray", "n_workers": 3})
    assert cfg.executor_spec() == ("ray", {"n_slots": 3})  # Ray and Dask count slots


@pytest.mark.parametrize(("extra", "space", "expected"), [
    ("n_trail: 3\n", None, "n_trail: unknown key. Did you mean 'n_trials'?"),
    ("n_trials: ten\n", None, "n_trials: must be an integer. Got 'ten'."),
    ("n_trials: 0\n", None, "n_trials: must be >= 1. Got 0."),
    ("timeout: soon\n", None, "timeout: must be a number"),
    ("mode: maximize\n", None, "mode: must be one of 'min' or 'max'. Got 'maximize'."),
    ("", "{lr: {loguniform: [10, 1.0e-6]}}", "space.lr: Float needs low <= high"),
    ("", "{lr: {lognormal: [0, 1]}}", "space.lr: unknown distribution 'lognormal'"),
    ("", "{lr: {float: {low: 0, high: 1, log: true}}}",
     "space.lr: Float with log=True needs low > 0"),
    ("", "[1, 2]", "space: must be a mapping"),
    ("", "{}", "space: The search space is empty"),
    ("", "{x: {uniform: [0, 1]}, y: {choice: [1, 2], when: {z: 1}}}", "space: Parameter 'y' is"),
    ("scheduler: ashaa\n", None, "scheduler: Unknown scheduler 'ashaa'. Did you mean 'asha'?"),
    ("scheduler: {divergence: {}, asha: {min_budget: 1, max_budget: 27, reduction_factor: 1}}\n",
     None, "scheduler: The 'reduction_factor'"),
    ("scheduler: {divergence: {bogus: 1}}\n", None, "scheduler: Bad arguments for scheduler"),
    ("searcher: randm\n", None, "searcher: Unknown searcher 'randm'. Did you mean 'random'?"),
    ("n_workers: 2\n", None, "n_workers: the 'inline' executor"),
])
def test_each_mistake_is_one_line_naming_the_key(tmp_path: Path, extra: str, space: str | None,
                                                 expected: str) -> None:
    p = study_yaml(tmp_path, extra, **({"space": space} if space else {}))
    with pytest.raises(ConfigError) as e:
        load_study_file(p)
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith(expected), msg


def test_unknown_executor(tmp_path: Path) -> None:
    p = study_yaml(tmp_path)
    p.write_text(p.read_text().replace("executor: inline", "executor: {lokal: {n_workers: 2}}"))
    with pytest.raises(ConfigError,
                       match=r"^executor: Unknown executor 'lokal'. Did you mean 'local'"):
        load_study_file(p)


def test_missing_name_and_non_mapping_top_level_and_bad_yaml(tmp_path: Path) -> None:
    p = write(tmp_path / "a.yaml", "objective: obj.py:objective\nspace: {x: {uniform: [0, 1]}}\n")
    with pytest.raises(ConfigError, match=r"^name: required key is missing"):
        load_study_file(p)
    write(p, "- name\n- objective\n")
    with pytest.raises(ConfigError, match=r"a.yaml: the top level must be a mapping .* Got a list"):
        load_study_file(p)
    write(p, "name: s\nspace: {x: {uniform: [0, 1]}\n")
    with pytest.raises(ConfigError, match=r"a.yaml: invalid YAML at line 3, column 1") as e:
        load_study_file(p)
    assert "\n" not in str(e.value)
    with pytest.raises(ConfigError, match=r"cannot read the study file"):
        load_study_file(tmp_path / "missing.yaml")


# -- the objective loader -------------------------------------------------------------------------
def test_file_objective_is_imported_under_its_stem(tmp_path: Path) -> None:
    write(tmp_path / "models" / "train_me.py", OBJECTIVE)
    fn = load_objective("models/train_me.py:objective", tmp_path)
    assert fn({"x": 3}) == {"value": 4}
    assert sys.modules["train_me"].__file__ == str((tmp_path / "models" / "train_me.py").resolve())
    assert sys.path[0] == str((tmp_path / "models").resolve())
    assert load_objective("models/train_me.py:objective", tmp_path) is fn


def test_module_objective_and_module_next_to_the_study_file(tmp_path: Path) -> None:
    import json

    assert load_objective("json:dumps", tmp_path) is json.dumps
    write(tmp_path / "helper_mod.py", OBJECTIVE)
    assert load_objective("helper_mod:objective", tmp_path)({"x": 1}) == {"value": 0}


def test_stem_clash_falls_back_to_pickling_by_value(tmp_path: Path) -> None:
    write(tmp_path / "json.py", "def objective(params):\n    return params['x'] * 2\n")
    fn = load_objective("json.py:objective", tmp_path)
    assert fn({"x": 2}) == 4
    assert fn.__module__.startswith("_hpsearch_objective_json_")
    blob = cloudpickle.dumps(fn)
    # A fresh interpreter that cannot import the file still runs the function (by value).
    code = "import pickle, sys; f = pickle.loads(sys.stdin.buffer.read()); print(f({'x': 5}))"
    out = subprocess.run([sys.executable, "-c", code], input=blob, capture_output=True,
                         cwd="/", check=True, timeout=60)
    assert out.stdout.strip() == b"10"


@pytest.mark.parametrize(("files", "ref", "expected"), [
    ({}, "nofile.py:objective", "objective: no such file 'nofile.py'"),
    ({"bad.py": "def objective(:\n"}, "bad.py:objective", "objective: importing bad.py failed: "
                                                           "SyntaxError"),
    ({"imp.py": "import not_a_module_xyz\n"}, "imp.py:objective",
     "objective: importing imp.py failed: ModuleNotFoundError: No module named 'not_a_module_xyz'"),
    ({"o.py": OBJECTIVE}, "o.py:objectiv", "objective: o.py has no attribute 'objectiv'. Did you "
                                           "mean 'objective'?"),
    ({"o.py": OBJECTIVE}, "o.py:NOT_CALLABLE", "objective: 'o.py:NOT_CALLABLE' is a int"),
    ({}, "no_such_module_xyz:f", "objective: no module named 'no_such_module_xyz'"),
    ({}, "just_a_name", "objective: 'just_a_name' must be of the form"),
    ({"m2.py": "raise RuntimeError('boom')\n"}, "m2:objective",
     "objective: importing m2.py failed: RuntimeError: boom"),
])
def test_objective_errors(tmp_path: Path, files: dict[str, str], ref: str, expected: str) -> None:
    for name, text in files.items():
        write(tmp_path / name, text)
    with pytest.raises(ConfigError) as e:
        load_objective(ref, tmp_path)
    assert str(e.value).startswith(expected), str(e.value)
    assert "\n" not in str(e.value)


# -- building runs --------------------------------------------------------------------------------
def test_prepare_run_stores_the_study_file_and_resume_rebuilds_it(tmp_path: Path) -> None:
    cfg = load_study_file(study_yaml(tmp_path, "n_trials: 3\nseed: 1\n"))
    plan = prepare_run(cfg)
    assert isinstance(plan.executor, InlineExecutor)
    assert plan.optimize_kwargs["n_trials"] == 3
    plan.optimize()
    assert plan.study.n_finished == 3
    stored = open_storage(cfg.storage, create=False).get_study("s").config[STUDY_FILE_KEY]
    assert stored["config"]["n_trials"] == 3 and stored["base_dir"] == str(tmp_path.resolve())

    again = prepare_resume("s", storage=cfg.storage, overrides={"n_trials": 5})
    assert again.study.n_finished == 3
    again.optimize()
    assert again.study.n_finished == 5
    stored = open_storage(cfg.storage, create=False).get_study("s").config[STUDY_FILE_KEY]
    assert stored["config"]["n_trials"] == 5


def test_prepare_run_refuses_an_existing_study_unless_overwrite(tmp_path: Path) -> None:
    cfg = load_study_file(study_yaml(tmp_path, "n_trials: 2\n"))
    prepare_run(cfg).optimize()
    with pytest.raises(StorageError, match=r"Study 's' exists in .*\(2 finished trials\): "
                                           r"`hpsearch resume s` continues it"):
        prepare_run(cfg)
    plan = prepare_run(cfg, overwrite=True)
    assert plan.study.n_finished == 0


def test_a_bad_objective_writes_nothing(tmp_path: Path) -> None:
    p = study_yaml(tmp_path)
    p.write_text(p.read_text().replace("obj.py:objective", "obj.py:nope"))
    cfg = load_study_file(p)
    with pytest.raises(ConfigError, match="^objective: obj.py has no attribute 'nope'"):
        prepare_run(cfg)
    assert not (tmp_path / "db.sqlite").exists()


def test_resume_needs_a_study_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/db.sqlite"
    create_study("plain", space={"x": {"uniform": [0, 1]}}, storage=url)
    with pytest.raises(HpsearchError, match="was not created from a study file"):
        prepare_resume("plain", storage=url)


def test_local_executor_gets_n_workers(tmp_path: Path) -> None:
    p = study_yaml(tmp_path, "n_workers: 2\n")
    p.write_text(p.read_text().replace("executor: inline\n", ""))
    plan = prepare_run(load_study_file(p))
    assert isinstance(plan.executor, LocalExecutor) and plan.executor.n_slots == 2
    plan.executor.shutdown()


def test_yaml_1_2_floats_are_numbers(tmp_path):
    # PyYAML (YAML 1.1) would read 1e-6 and 1.0e4 as strings.
    from hpsearch.config import _Loader

    data = yaml.load("a: [1e-6, 1.0e4, -2E3, .5, 10, 1.0e+4, v1e4]", Loader=_Loader)
    assert data["a"] == [1e-6, 1e4, -2000.0, 0.5, 10, 1e4, "v1e4"]
    assert isinstance(data["a"][4], int)


def test_a_study_run_by_a_live_driver_is_refused_before_anything_starts(tmp_path: Path) -> None:
    import os
    import socket
    import time

    from hpsearch import StudyLockedError

    cfg = load_study_file(study_yaml(tmp_path, "n_trials: 2\n"))
    prepare_run(cfg).optimize()
    st = open_storage(cfg.storage, create=False)
    sid = st.get_study("s").study_id
    live = f"{socket.gethostname()}:{os.getppid()}:feedbeef"  # a live process of this host
    assert st.acquire_lock(sid, live, now=time.time(), stale_after=30)
    # not "exists: resume it", which would then be refused too
    with pytest.raises(StudyLockedError, match="is being run by another driver"):
        prepare_run(cfg)
    with pytest.raises(StudyLockedError, match="taken over at once on the same host"):
        prepare_resume("s", storage=cfg.storage)
    with pytest.raises(StudyLockedError):
        prepare_run(cfg, overwrite=True)
    st.release_lock(sid, live)
    assert prepare_resume("s", storage=cfg.storage).study.n_finished == 2
