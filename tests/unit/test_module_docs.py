"""Every module's arguments and documentation come from its one spec (sweepops.ansible.docgen),
and ``ansible-doc`` parses every module in ``library/`` and ``roles/*/library/``."""

from __future__ import annotations

import ast
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sweepops.ansible import docgen
from sweepops.remote.module_spec import ModuleFailed, ModuleSpec, run_module
from tests.conftest import REPO

FILES = docgen.module_files(REPO)
SPECS = docgen.all_specs()
ANSIBLE_DOC = Path(sys.executable).with_name("ansible-doc")


def test_every_module_has_one_spec_and_every_spec_a_module():
    assert len(FILES) >= 22
    assert sorted(p.stem for p in FILES) == sorted(SPECS)


def test_every_documentation_is_the_one_its_spec_generates():
    assert docgen.stale(FILES, SPECS) == []
    assert docgen.main(["--check"]) == 0


def test_a_hand_edited_documentation_is_found(tmp_path: Path):
    original = REPO / "library" / "sweepops_gc.py"
    edited = tmp_path / original.name
    text = original.read_text()
    assert "    description: The squeue command.\n" in text
    edited.write_text(text.replace("The squeue command.", "The squeue command to run."))
    assert docgen.stale([edited], SPECS) == [edited]
    # written again from the spec, it is what the repository holds
    edited.write_text(docgen.generated(edited, SPECS))
    assert edited.read_text() == text


def test_a_changed_spec_is_found():
    spec, source = SPECS["sweepops_gc"]
    changed = dataclasses.replace(spec, short_description="Something else")
    path = REPO / "library" / "sweepops_gc.py"
    assert docgen.stale([path], {**SPECS, "sweepops_gc": (changed, source)}) == [path]


def test_hand_written_blocks_are_replaced_where_they_were():
    text = 'import os\n\nDOCUMENTATION = r"""\nold\n"""\n\nRETURN = """x"""\n\n\ndef main():\n    pass\n'
    spec, source = SPECS["sweepops_wandb_key"]
    out = docgen.regenerate(text, docgen.render(spec, source))
    assert out.startswith("import os\n\n# BEGIN DOCUMENTATION")
    assert "old" not in out and out.endswith("# END DOCUMENTATION\n\n\ndef main():\n    pass\n")
    assert docgen.regenerate(out, docgen.render(spec, source)) == out


def _texts(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    return [value]


def test_every_description_is_text():
    """A description YAML would read as a mapping (``Idempotent: ...``) is not text."""
    for spec, _ in SPECS.values():
        docs = [spec.documentation(), *spec.returns.values()]
        docs += [o for o in spec.documentation()["options"].values()]
        assert spec.description and spec.short_description, spec.name
        for doc in docs:
            for text in _texts(doc["description"]):
                assert isinstance(text, str) and text.strip(), (spec.name, doc)


# --------------------------------------------------------------------------- ansible-doc


def ansible_doc(
    names: list[str], *, library: list[Path] | None = None, as_json: bool = False
) -> tuple[Any, str]:
    """``ansible-doc -t module NAMES`` from the repository (ansible.cfg's paths apply), with
    every ``roles/*/library`` (or ``library``) on the module path: (its output, what it
    said on stderr and its exit status unless 0). Only the text output renders the docs (and
    so fails on a description that is not text); ``--json`` gives them parsed."""
    dirs = library if library is not None else sorted({p.parent for p in FILES} - {REPO / "library"})
    argv = [str(ANSIBLE_DOC), *(["--json"] if as_json else []), "-t", "module"]
    for path in dirs:
        argv += ["-M", str(path)]
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    proc = subprocess.run(
        [*argv, *names], capture_output=True, text=True, cwd=REPO, env=env, timeout=300
    )
    problems = proc.stderr.strip()
    if proc.returncode:
        problems += f"\n(exit status {proc.returncode})"
    if as_json:
        return (json.loads(proc.stdout) if proc.stdout.strip() else {}), problems
    return proc.stdout, problems


def test_ansible_doc_parses_every_module():
    names = sorted(p.stem for p in FILES)
    text, problems = ansible_doc(names)
    assert problems == ""
    for name in names:
        assert f"> MODULE {name} (" in text
    docs, problems = ansible_doc(names, as_json=True)
    assert problems == ""
    assert sorted(docs) == names
    for name in names:
        parsed = docs[name]["doc"]
        spec = SPECS[name][0]
        assert parsed["short_description"] == spec.short_description
        assert sorted(parsed["options"]) == sorted(spec.options)
        for option, opt in parsed["options"].items():
            assert opt.get("type", "str") == spec.options[option].get("type", "str")
            assert opt.get("required", False) == spec.options[option].get("required", False)


def test_the_ansible_doc_check_fails_on_a_broken_module(tmp_path: Path):
    (tmp_path / "sweepops_broken.py").write_text(
        'DOCUMENTATION = r"""\nmodule: sweepops_broken\nshort_description: x\ndescription:\n'
        "  - Idempotent: a sweep is left alone.\noptions: {}\n"
        'author: sweepops\n"""\n'
    )
    _docs, problems = ansible_doc(["sweepops_broken"], library=[tmp_path])
    assert "sweepops_broken" in problems


# --------------------------------------------------------------------------- argument specs


def _module_calls(path: Path) -> list[ast.Call]:
    return [
        node
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "AnsibleModule"
    ]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_each_module_validates_its_arguments_with_its_spec(path: Path):
    """A shim runs its spec (run_step / run_module); a module that still builds its own
    ``AnsibleModule`` (sbatch) gives it exactly its spec's arguments."""
    spec = SPECS[path.stem][0]
    text = path.read_text()
    calls = _module_calls(path)
    if not calls:
        assert f'run_step("{path.stem}")' in text or "run_module(SPEC, " in text
        return
    (call,) = calls
    given = {kw.arg: ast.literal_eval(kw.value) for kw in call.keywords}
    expected = spec.module_kwargs()
    for key in ("mutually_exclusive", "required_one_of", "required_if"):
        if key in given:
            given[key] = [list(x) for x in given[key]]
    if "required_by" in given:
        given["required_by"] = {k: list(v) for k, v in given["required_by"].items()}
    assert given == expected


def test_the_argument_check_fails_on_a_drifted_literal(tmp_path: Path):
    path = tmp_path / "sweepops_gc.py"
    path.write_text(
        "AnsibleModule(argument_spec={'lab_root': {'type': 'path', 'required': True}},"
        " supports_check_mode=True)\n"
    )
    with pytest.raises(AssertionError):
        test_each_module_validates_its_arguments_with_its_spec(path)


# --------------------------------------------------------------------------- ModuleSpec


SPEC = ModuleSpec(
    name="sweepops_example",
    short_description="An example",
    description=("One.",),
    options={
        "path": {"description": "A path.", "type": "path", "required": True},
        "token": {"description": "A secret.", "type": "str", "no_log": True},
        "items": {
            "description": "Items.",
            "type": "list",
            "elements": "dict",
            "default": [],
            "suboptions": {"name": {"description": "Its name.", "type": "str"}},
        },
    },
    check_mode=False,
    required_if=(("path", "/", ("token",)),),
)


def test_the_argument_spec_is_the_options_without_their_text():
    assert SPEC.argument_spec() == {
        "path": {"type": "path", "required": True},
        "token": {"type": "str", "no_log": True},
        "items": {
            "type": "list",
            "elements": "dict",
            "default": [],
            "options": {"name": {"type": "str"}},
        },
    }
    assert SPEC.module_kwargs()["supports_check_mode"] is False
    assert SPEC.module_kwargs()["required_if"] == [["path", "/", ("token",)]]
    assert "mutually_exclusive" not in SPEC.module_kwargs()


def test_the_documentation_has_the_text_and_no_secrets_flag():
    doc = SPEC.documentation()
    assert doc["options"]["token"] == {"description": "A secret.", "type": "str"}
    assert doc["options"]["items"]["suboptions"] == {
        "name": {"description": "Its name.", "type": "str"}
    }
    assert doc["description"] == ["One."] and doc["module"] == "sweepops_example"


class FakeModule:
    """AnsibleModule's part run_module uses."""

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs
        self.params = {"path": "/x"}
        self.check_mode = True
        FakeModule.last = self

    def exit_json(self, **result: Any) -> None:
        raise SystemExit(("exit", result))

    def fail_json(self, **result: Any) -> None:
        raise SystemExit(("fail", result))


def test_run_module_exits_with_the_result_or_fails_with_the_message():
    with pytest.raises(SystemExit) as done:
        run_module(SPEC, lambda p, check: {"changed": False, "seen": (p["path"], check)}, FakeModule)
    assert done.value.code == ("exit", {"changed": False, "seen": ("/x", True)})
    assert FakeModule.last.kwargs == SPEC.module_kwargs()

    def fails(p: dict, check: bool) -> dict:
        raise ModuleFailed("no", partial=1)

    with pytest.raises(SystemExit) as done:
        run_module(SPEC, fails, FakeModule)
    assert done.value.code == ("fail", {"msg": "no", "partial": 1})


def test_a_module_without_a_spec_is_named(tmp_path: Path):
    path = tmp_path / "sweepops_new.py"
    path.write_text('DOCUMENTATION = r"""\nmodule: sweepops_new\n"""\n')
    with pytest.raises(KeyError, match="no ModuleSpec named sweepops_new"):
        docgen.generated(path, SPECS)
