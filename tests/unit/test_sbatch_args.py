"""The sbatch role's submission step checks its sweeps and lab root before it renders."""

from __future__ import annotations

from sweepops.ansible.sbatch_args import BAD_SWEEPS, sweeps_problem


def test_sweeps_need_ids_and_dirs_and_a_lab_root():
    good = [{"id": "abc", "name": "n", "dir": "/lab/sweeps/abc"}]
    assert sweeps_problem(good, "/lab") is None
    assert sweeps_problem(good, "") == BAD_SWEEPS
    assert sweeps_problem([], "/lab") == BAD_SWEEPS
    assert sweeps_problem(None, "/lab") == BAD_SWEEPS
    assert sweeps_problem([{"id": "abc"}], "/lab") == BAD_SWEEPS
    assert sweeps_problem([{"dir": "/lab/x"}], "/lab") == BAD_SWEEPS
