"""time vs preempt_signal_seconds: a combination that requeues every attempt is refused."""

from __future__ import annotations

import pytest

from sweepops.core.errors import SweepopsError
from sweepops.experiment.joblimits import check, problem, slurm_seconds


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30", 1800),
        ("2:30", 150),
        ("01:00:00", 3600),
        ("1-12", 129600),
        ("1-00:30", 88200),
        ("2-01:02:03", 176523),
        ("", None),
        ("UNLIMITED", None),
    ],
)
def test_slurm_time_formats(text, seconds):
    assert slurm_seconds(text) == seconds


def test_time_at_or_below_the_warning_is_refused_with_the_numbers():
    msg = problem("atlas", "00:02:00", 120)
    assert msg is not None
    assert "time 00:02:00 (120 s) leaves 0 s" in msg and "preempt_signal_seconds 120" in msg
    assert "set time to at least 00:03:00" in msg and "at most 60" in msg
    assert problem("atlas", "1", 120) is not None  # 60 s < 120 s: negative room
    assert problem("atlas", "00:02:30", 120) is not None  # 30 s: too close
    assert problem("atlas", "00:03:00", 120) is None
    assert problem("atlas", "00:02:00", 0) is None  # no warning asked for
    assert problem("atlas", "", 120) is None  # the partition's default: unknown here


def test_runs_longer_than_the_room_are_refused():
    msg = problem("atlas", "00:10:00", 120, [300.0, 600.0])
    assert msg is not None and "_time_per_run 600 s" in msg
    assert "set time to at least 00:12:00" in msg
    assert problem("atlas", "00:10:00", 120, [300.0, None]) is None


def test_check_names_every_cluster_and_says_nothing_was_created():
    with pytest.raises(SweepopsError) as err:
        check(
            {
                "atlas": {"time": "00:02:00", "preempt_signal_seconds": 120},
                "babel": {"time": "04:00:00", "preempt_signal_seconds": 120},
                "cirrus": {"time": "1", "preempt_signal_seconds": "120"},
            }
        )
    text = str(err.value)
    assert "atlas:" in text and "cirrus:" in text and "babel" not in text
    assert "nothing was created" in text
    check({"babel": {"time": "04:00:00", "preempt_signal_seconds": 120}})
    with pytest.raises(SweepopsError, match="not a number"):
        check({"atlas": {"time": "10", "preempt_signal_seconds": "soon"}})
    with pytest.raises(SweepopsError, match="Slurm's formats"):
        check({"atlas": {"time": "ten hours", "preempt_signal_seconds": 120}})
