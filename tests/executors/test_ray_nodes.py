"""RayExecutor on a simulated two-node Ray cluster: losing a node mid-trial (ray.cluster_utils)."""

import os
import time

import pytest

import hpsearch as hp
from hpsearch.schedulers._base import Decision, Scheduler

ray = pytest.importorskip("ray")
cluster_utils = pytest.importorskip("ray.cluster_utils")

from hpsearch.executors.ray import RAY_ENV_DEFAULTS, RayExecutor  # noqa: E402


def reports_node(params, reporter):
    for epoch in range(1, 4):
        reporter.report(epoch, params["x"], pid=os.getpid())
        time.sleep(0.05)
    return params["x"]


class RemoveTheNodeAtTheFirstReport(Scheduler):
    """Test-only: at trial 0's first report, remove the node it runs on and add a fresh one."""

    name = "remove-node"

    def __init__(self, cluster, node):
        self.cluster, self.node = cluster, node

    def decide(self, trial, trials, *, mode):
        if trial.number == 0 and trial.attempt == 0 and len(trial.reports) == 1:
            self.cluster.remove_node(self.node)
            self.cluster.add_node(num_cpus=1, resources={"trial_node": 1})
        return Decision.CONTINUE


@pytest.fixture(scope="module")
def two_nodes():
    for k, v in RAY_ENV_DEFAULTS.items():
        os.environ.setdefault(k, v)
    if ray.is_initialized():
        pytest.skip("another test left Ray running in this process")
    cluster = cluster_utils.Cluster(
        initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    try:
        ray.init(address=cluster.address, configure_logging=False, log_to_driver=False)
        # added after the driver attached to the head: removing it leaves the driver's node
        node = cluster.add_node(num_cpus=1, resources={"trial_node": 1})
        cluster.wait_for_nodes()
        yield cluster, node
    finally:
        ray.shutdown()
        cluster.shutdown()


@pytest.mark.integration
@pytest.mark.slow
def test_a_lost_node_fails_its_trial_which_is_retried_on_another_node(tmp_path, two_nodes):
    cluster, node = two_nodes
    study = hp.create_study("s", space={"x": hp.Float(0, 1)},
                            storage=f"sqlite:///{tmp_path / 's.db'}",
                            scheduler=RemoveTheNodeAtTheFirstReport(cluster, node))
    with RayExecutor(resources_per_trial={"cpu": 1, "trial_node": 1}) as ex:
        study.optimize(reports_node, n_trials=2, executor=ex, max_retries=1)
        assert ex.n_slots == 1  # only the trial node has the custom resource
    first, *rest = study.trials
    assert first.state is hp.TrialState.FAILED
    assert first.reason.startswith("worker lost: ActorDiedError")
    assert [t.state for t in rest] == [hp.TrialState.COMPLETED] * 2
    assert rest[0].retry_of == 0 and rest[0].params == first.params
    assert len({t.reports[0].metrics["pid"] for t in study.trials}) >= 2
    assert study.n_finished == 2
