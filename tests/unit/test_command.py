"""The run command line must match `wandb agent`'s byte for byte."""

import pytest

from sweepops.runtime.command import build_command, macro_values

PARAMS = {
    "lr": {"value": 0.1},
    "flag": {"value": False},
    "on": {"value": True},
    "name": {"value": "a b"},
}


def test_macros_match_wandb_sdk():
    utils = pytest.importorskip("wandb.sdk.launch.sweeps.utils")
    theirs = utils.create_sweep_command_args({"args": PARAMS})
    ours = macro_values(PARAMS)
    for key, value in ours.items():
        assert theirs[key] == value, key


def test_default_command():
    argv = build_command(None, program="train.py", params=PARAMS, args_json_file="/x.json")
    assert argv == [
        "/usr/bin/env",
        "python",
        "train.py",
        "--lr=0.1",
        "--flag=False",
        "--on=True",
        "--name=a b",
    ]


def test_custom_command_with_macros_and_envvar():
    cmd = [
        "${env}",
        "${interpreter}",
        "-u",
        "${program}",
        "--cfg=${envvar:MYCFG}",
        "${args_no_hyphens}",
        "${args_json_file}",
        "${unknown}",
    ]
    argv = build_command(
        cmd,
        program="p.py",
        params={"a": {"value": 1}},
        args_json_file="/j.json",
        environ={"MYCFG": "c.yaml"},
    )
    assert argv == ["/usr/bin/env", "python", "-u", "p.py", "--cfg=c.yaml", "a=1", "/j.json"]


def test_macro_only_replaced_as_whole_element():
    argv = build_command(
        ["echo", "x${args}"], program=None, params={"a": {"value": 1}}, args_json_file="j"
    )
    assert argv == ["echo", "x${args}"]


def test_unset_envvar_left_as_name_like_wandb():
    argv = build_command(
        ["echo", "${envvar:NOPE_UNSET}"], program=None, params={}, args_json_file="j", environ={}
    )
    assert argv == ["echo", "NOPE_UNSET"]


def test_args_json_file_is_needed_only_when_the_command_names_it():
    from sweepops.runtime.command import needs_args_json_file

    assert needs_args_json_file(["${env}", "${program}", "${args_json_file}"])
    assert not needs_args_json_file(["${env}", "${program}", "x${args_json_file}"])
    assert not needs_args_json_file(None)
