import math
import sqlite3

import pytest

import hpsearch as hp
from hpsearch.exceptions import StorageError, StudyNotFoundError
from hpsearch.storage import _sql, open_storage
from hpsearch.trial import TrialState


def make_storage(tmp_path, name="s.db"):
    return open_storage(f"sqlite:///{tmp_path / name}")


def test_round_trip_of_study_trials_and_reports(tmp_path):
    st = make_storage(tmp_path)
    rec = st.create_study("s", metric="acc", mode="max", space={"x": {"type": "float"}},
                          config={"seed": 1}, created_at=1.0)
    st.create_trial(rec.study_id, 0, state=TrialState.RUNNING, params={"x": 0.5, "c": [1, 2]},
                    created_at=2.0, started_at=2.0)
    st.add_report(rec.study_id, 0, budget=1, value=0.25, metrics={"loss": float("inf")})
    st.add_report(rec.study_id, 0, budget=2, value=float("nan"), metrics={"loss": float("nan")})
    st.finish_trial(rec.study_id, 0, state=TrialState.COMPLETED, value=0.9,
                    metrics={"acc": 0.9, "note": "ü"}, finished_at=3.0)
    st.close()
    st = make_storage(tmp_path)
    rec2 = st.get_study("s")
    assert (rec2.metric, rec2.mode, rec2.config) == ("acc", "max", {"seed": 1})
    (t,) = st.get_trials(rec2.study_id)
    assert t.state is TrialState.COMPLETED and t.value == 0.9
    assert t.params == {"x": 0.5, "c": [1, 2]}
    assert t.metrics == {"acc": 0.9, "note": "ü"}
    assert [r.budget for r in t.reports] == [1.0, 2.0]
    assert t.reports[0].metrics["loss"] == float("inf")
    assert math.isnan(t.reports[1].value) and math.isnan(t.reports[1].metrics["loss"])
    assert (t.created_at, t.started_at, t.finished_at) == (2.0, 2.0, 3.0)


def test_values_are_json_text_never_pickle(tmp_path):
    st = make_storage(tmp_path)
    rec = st.create_study("s", metric="v", mode="min", space={}, config={}, created_at=0)
    st.create_trial(rec.study_id, 0, state=TrialState.PENDING, params={"a": "b"}, created_at=0)
    st.close()
    con = sqlite3.connect(tmp_path / "s.db")
    (params,) = con.execute("select params from trials").fetchone()
    assert params == '{"a":"b"}'
    (mode,) = con.execute("pragma journal_mode").fetchone()
    assert mode == "wal"
    (version,) = con.execute(
        "select value from hpsearch_meta where key='schema_version'").fetchone()
    assert int(version) == _sql.SCHEMA_VERSION
    con.close()


def test_newer_schema_version_is_refused(tmp_path):
    make_storage(tmp_path).close()
    con = sqlite3.connect(tmp_path / "s.db")
    con.execute("update hpsearch_meta set value='999' where key='schema_version'")
    con.commit()
    con.close()
    with pytest.raises(StorageError, match="newer hpsearch"):
        make_storage(tmp_path)


def test_migrations_run_in_order(tmp_path, monkeypatch):
    make_storage(tmp_path).close()
    calls = []
    monkeypatch.setattr(_sql, "SCHEMA_VERSION", _sql.SCHEMA_VERSION + 1)
    monkeypatch.setitem(_sql.MIGRATIONS, _sql.SCHEMA_VERSION - 1,
                        lambda conn: calls.append("up"))
    make_storage(tmp_path).close()
    assert calls == ["up"]
    con = sqlite3.connect(tmp_path / "s.db")
    (version,) = con.execute(
        "select value from hpsearch_meta where key='schema_version'").fetchone()
    assert int(version) == _sql.SCHEMA_VERSION
    con.close()


def test_not_a_database_and_missing_file_are_one_line_errors(tmp_path):
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(StorageError) as e:
        open_storage(f"sqlite:///{bad}")
    assert "bad.db" in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(StorageError, match="no such file"):
        open_storage(f"sqlite:///{tmp_path / 'missing.db'}", create=False)
    assert not (tmp_path / "missing.db").exists()
    with pytest.raises(StorageError, match="does not exist"):
        open_storage(f"sqlite:///{tmp_path / 'nodir' / 'x.db'}")
    with pytest.raises(StorageError, match="Invalid storage URL"):
        open_storage("not a url://")


def test_duplicate_names_and_unknown_study(tmp_path):
    st = make_storage(tmp_path)
    st.create_study("s", metric="v", mode="min", space={}, config={}, created_at=0)
    with pytest.raises(StorageError, match="exists already"):
        st.create_study("s", metric="v", mode="min", space={}, config={}, created_at=0)
    with pytest.raises(StudyNotFoundError, match="No study named 'nope'"):
        st.get_study("nope")


def test_study_api_persists_everything(tmp_path):
    url = f"sqlite:///{tmp_path / 'x.db'}"
    space = {"x": hp.Float(0, 1), "c": hp.Categorical([(1, 2), "a"])}
    study = hp.create_study("s", space=space, storage=url, metric="m", mode="max", seed=3)
    study.optimize(lambda p: {"m": p["x"], "extra": 1}, n_trials=5,
                   executor=hp.InlineExecutor())
    again = hp.load_study("s", storage=url)
    assert [t.params for t in again.trials] == [t.params for t in study.trials]
    assert any(t.params["c"] == (1, 2) and isinstance(t.params["c"], tuple)
               for t in again.trials) or all(t.params["c"] == "a" for t in again.trials)
    assert again.best_trial.number == study.best_trial.number
    assert again.trials[0].metrics["extra"] == 1
    assert again.config["searcher"] == study.config["searcher"]
