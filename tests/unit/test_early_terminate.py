"""early_terminate (hyperband) decided by wandb's engine over the offline sweep's records."""

from sweepops.runtime.offline_sweep import FINISHED, OfflineSweep

CONFIG = {
    "method": "grid",
    "metric": {"name": "loss", "goal": "minimize"},
    "early_terminate": {"type": "hyperband", "min_iter": 2, "eta": 2},
    "parameters": {"a": {"values": [1, 2, 3, 4]}},
}


def test_bad_running_run_is_stopped_good_one_is_not(tmp_path):
    sweep = OfflineSweep.create(tmp_path, config=CONFIG, name="et")
    agent = {"host": "h"}
    # Three finished runs with good losses at the hyperband bands.
    for loss in (1.0, 0.9, 0.8):
        claim = sweep.claim(agent)
        sweep.finish(
            claim,
            state=FINISHED,
            exit_code=0,
            extra={"history": [{"loss": loss}] * 4},
            summary={"loss": loss},
        )
    bad = sweep.claim(agent)
    assert sweep.update_running(bad, history=[{"loss": 50.0}] * 3)
    assert sweep.should_stop(bad.run_id) is True
    assert sweep.update_running(bad, history=[{"loss": 0.1}] * 3)
    assert sweep.should_stop(bad.run_id) is False


def test_no_early_terminate_never_stops(tmp_path):
    config = {k: v for k, v in CONFIG.items() if k != "early_terminate"}
    sweep = OfflineSweep.create(tmp_path, config=config, name="et")
    claim = sweep.claim({"host": "h"})
    sweep.update_running(claim, history=[{"loss": 1e9}] * 5)
    assert sweep.should_stop(claim.run_id) is False
