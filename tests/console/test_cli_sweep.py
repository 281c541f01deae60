"""Every command and option of the real `ganyun` entry point, given bad values: one line on
stderr, exit 2 (bad input) or 1 (the answer is "no"), never a traceback.

The cases are generated from the Typer app itself (every command, every parameter that takes
a value, bad values chosen by the parameter's type and declared range), so a command added
later is swept without touching this file; the hand-written cases below add the bad inputs
that need a meaning (a plan for another estate, an unknown scenario, a malformed --where).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args, get_origin

import pytest
import yaml
from typer.main import get_command

from console.cli import app
from tests.console.forkrun import ForkRunner, Result
from tests.fakes.estates.migration import build_store, default_listings, make_config

# One worker for the whole sweep: its workspace and fork server are built once.
pytestmark = pytest.mark.xdist_group("cli_sweep")

GANYUN = str(Path(sys.executable).with_name("ganyun"))
NON_UTF8 = os.fsdecode(b"bad-\xff\xfe")  # what a shell passes for bytes that are not UTF-8
TIMEOUT_S = 60


@dataclass(frozen=True)
class Case:
    name: str
    argv: tuple[str, ...]
    stdout: str = ""  # a workspace file for stdout ("" captures it)
    stdin: str = ""
    env: tuple[tuple[str, str], ...] = field(default=())


# --------------------------------------------------------------------------- the workspace

# Files every case may name, relative to the workspace (the cases' working directory).
TEXT, BINARY, NOT_UTF8, YAML_LIST, EMPTY = "text.txt", "binary.bin", "latin1.txt", "list.yaml", "empty.txt"
BAD_YAML, UNKNOWN_KEY, A_DIR, LOOP, MISSING = "bad.yaml", "unknown-key.yaml", "adir", "loop", "missing.txt"
THROUGH_FILE = f"{TEXT}/x"  # a path whose parent is a regular file (ENOTDIR)
MISSING_PARENT = "missing-dir/out.txt"


def _make_workspace(root: Path) -> Path:
    config = make_config(root)
    build_store(config, default_listings()).dispose()
    data = config.model_dump(mode="json", exclude={"base_dir"})
    data["database"] = "sqlite:///ganyun.db"
    (root / "ganyun.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    (root / TEXT).write_text("just text\n", encoding="utf-8")
    (root / BINARY).write_bytes(bytes(range(256)) * 4)
    (root / NOT_UTF8).write_bytes("赣州 café\n".encode("gb18030"))
    (root / YAML_LIST).write_text("- one\n- two\n", encoding="utf-8")
    (root / EMPTY).write_text("", encoding="utf-8")
    (root / BAD_YAML).write_text("key: [unclosed\n", encoding="utf-8")
    (root / UNKNOWN_KEY).write_text("databse: sqlite:///x.db\n", encoding="utf-8")
    (root / A_DIR).mkdir()
    (root / LOOP).symlink_to(LOOP)
    # Plans: a good one for this estate, the same for another estate, an empty one.
    subprocess.run(
        [GANYUN, "migrate", "plan", "--target", "xc-kunpeng", "--output", "plan.json"],
        cwd=root, env=_env(root), capture_output=True, check=True, timeout=TIMEOUT_S,
    )  # fmt: skip
    plan = json.loads((root / "plan.json").read_text(encoding="utf-8"))
    other = json.loads(json.dumps(plan).replace("gov-huawei", "other-cloud").replace("xc-kunpeng", "other-pool"))
    (root / "other-plan.json").write_text(json.dumps(other), encoding="utf-8")
    for item in plan["items"]:  # same clouds, VMs this inventory never saw: another database
        item["source_id"] = "elsewhere-" + item["source_id"]
    (root / "other-db-plan.json").write_text(json.dumps(plan), encoding="utf-8")
    (root / "empty-plan.json").write_text(json.dumps({**plan, "items": [], "waves": []}), encoding="utf-8")
    (root / "faults-unknown-cloud.yaml").write_text("no-such-cloud: {http500: 1.0}\n", encoding="utf-8")
    return root


def _env(root: Path, extra: tuple[tuple[str, str], ...] = ()) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GANYUN_")}
    env.update({"GANYUN_CONFIG": str(root / "ganyun.yaml"), "HOME": str(root), "COLUMNS": "200"})
    env.update(dict(extra))
    return env


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = _make_workspace(tmp_path_factory.mktemp("sweep"))
    yield root
    # A bad value taken for a good one could have started a lab here: never leave it running.
    subprocess.run([GANYUN, "lab", "down", "--dir", str(root / ".lab")], cwd=root, env=_env(root),
                   capture_output=True, timeout=TIMEOUT_S, check=False)  # fmt: skip


# --------------------------------------------------------------------------- generated cases


def _leaf_commands() -> Iterator[tuple[list[str], Any]]:
    def walk(command: Any, path: list[str]) -> Iterator[tuple[list[str], Any]]:
        subs = getattr(command, "commands", None)
        if subs is None:
            yield path, command
            return
        for name, sub in sorted(subs.items()):
            yield from walk(sub, [*path, name])

    yield from walk(get_command(app), [])


def _element_type(param: Any) -> Any:
    annotation = param.type_descriptor.annotation
    return get_args(annotation)[0] if get_origin(annotation) is list else annotation


def _path_role(param: Any) -> str:
    """output, directory or input: what a path parameter names, from its name and help."""
    name, help_text = param.name or "", (param.help or "").lower()
    if re.search(r"(^|_)(output|out)($|_)", name):
        return "output"
    if name == "dir" or name.endswith("_dir"):
        return "directory"
    return "input-or-directory" if "director" in help_text else "input"


def bad_values(param: Any) -> list[str]:
    """Values no command may take for this parameter."""
    info = param.type_descriptor.parameter_info
    kind = _element_type(param)
    if param.type_descriptor.is_choice:
        return ["no-such-choice"]
    if kind is bool:
        return []
    if kind in (int, float):
        values = ["abc"] if kind is float else ["abc", "1.5"]
        if info.min is not None:
            values.append(str(info.min - 1))
        if info.max is not None:
            values.append(str(info.max + 1))
        return values
    if kind is Path:
        role = _path_role(param)
        common = [THROUGH_FILE, LOOP]
        if role == "output":
            return [*common, MISSING_PARENT, A_DIR, "/dev/full"]
        if role == "directory":
            return [*common, TEXT]
        dirs_ok = role == "input-or-directory"
        return [*common, MISSING, BINARY, *([] if dirs_ok else [A_DIR])]
    return [NON_UTF8]


def _filler(param: Any) -> str:
    """A value that passes the parser, for the required parameters not under test."""
    kind = _element_type(param)
    if param.type_descriptor.is_choice:
        return str(param.type_descriptor.choices[0])
    if kind in (int, float):
        return str(param.type_descriptor.parameter_info.min or 1)
    if kind is Path:
        return A_DIR if _path_role(param) == "directory" else TEXT
    return "filler"


def _argv(param: Any, value: str) -> list[str]:
    if param.param_type_name == "argument":
        return [value]
    return [param.opts[0], value]


def generated_cases() -> list[Case]:
    cases = []
    for path, command in _leaf_commands():
        params = [p for p in command.params if p.name != "help" and not getattr(p, "is_flag", False)]
        base = {p.name: _argv(p, _filler(p)) for p in params if p.required}
        swept = 0
        for param in params:
            for value in bad_values(param):
                args = [a for p in params if p.required and p is not param for a in base[p.name]]
                shown = "<not UTF-8>" if value == NON_UTF8 else value
                cases.append(Case(f"{' '.join(path)} {param.name}={shown}", (*path, *args, *_argv(param, value))))
                swept += 1
        if not swept:
            cases.append(Case(f"{' '.join(path)} --no-such-option", (*path, "--no-such-option")))
    return cases


# --------------------------------------------------------------------------- hand-written cases

CONFIGS = (MISSING, A_DIR, BINARY, NOT_UTF8, YAML_LIST, BAD_YAML, UNKNOWN_KEY, "/dev/full", LOOP)
# One command per area that reads the configuration.
CONFIG_READERS = (
    ("sync",), ("inventory", "list"), ("capacity", "report"), ("migrate", "status"), ("drill", "history"),
    ("certs", "list"), ("comply", "audit"), ("audit", "verify"), ("vault", "list"), ("console",),
)  # fmt: skip

HAND_WRITTEN: tuple[Case, ...] = (
    *(Case(f"--config {c} {' '.join(cmd)}", ("--config", c, *cmd)) for c in CONFIGS for cmd in CONFIG_READERS[:2]),
    *(Case(f"--config {BINARY} {' '.join(cmd)}", ("--config", BINARY, *cmd)) for cmd in CONFIG_READERS[2:]),
    Case("GANYUN_CONFIG is a directory", ("inventory", "list"), env=(("GANYUN_CONFIG", A_DIR),)),
    Case("no such command", ("no-such-command",)),
    Case("unknown scenario", ("drill", "run", "--scenario", "no-such-scenario", "--yes")),
    Case("unknown provider to sync", ("sync", "--only", "no-such-provider")),
    Case("unknown provider to show", ("inventory", "show", "no-such-provider", "vm-1")),
    Case("unknown migration target", ("migrate", "plan", "--target", "no-such-pool", "--output", "p.json")),
    Case("--where without =", ("inventory", "list", "--where", "department")),
    Case("--where without a key", ("inventory", "list", "--where", "=市人社局")),
    Case("--where on an unknown field", ("inventory", "list", "--where", "no_such_field=1")),
    Case("migrate assess --where malformed", ("migrate", "assess", "--where", "x")),
    Case("capacity headroom --where malformed", ("capacity", "headroom", "--where", "x")),
    Case("unknown inventory kind", ("inventory", "list", "--kind", "no-such-kind")),
    Case("empty plan file", ("migrate", "run", EMPTY, "--yes")),
    Case("plan that is a YAML list", ("migrate", "run", YAML_LIST, "--yes")),
    Case("plan without VMs", ("migrate", "run", "empty-plan.json", "--yes")),
    Case("plan for another estate", ("migrate", "run", "other-plan.json", "--yes")),
    Case("plan for another database", ("migrate", "run", "other-db-plan.json", "--yes")),
    Case("plan wave that does not exist", ("migrate", "run", "plan.json", "--wave", "99", "--yes")),
    Case("plan to /dev/full", ("migrate", "plan", "--target", "xc-kunpeng", "--output", "/dev/full")),
    Case("plan into a missing directory", ("migrate", "plan", "--target", "xc-kunpeng", "--output", MISSING_PARENT)),
    Case("plan onto a directory", ("migrate", "plan", "--target", "xc-kunpeng", "--output", A_DIR)),
    Case("plan wave size 0", ("migrate", "plan", "--target", "xc-kunpeng", "--output", "p.json", "--wave-size", "0")),
    Case("unknown migration run", ("migrate", "status", "--run", "999999")),
    Case("rollback of an unknown run", ("migrate", "rollback", "999999", "--yes")),
    Case("run needs --yes without a terminal", ("migrate", "run", "plan.json")),
    Case("capacity report to /dev/full", ("capacity", "report", "--format", "json", "--output", "/dev/full")),
    Case("capacity xlsx into a missing dir", ("capacity", "report", "--format", "xlsx", "--output", MISSING_PARENT)),
    Case("audit report to /dev/full", ("comply", "audit", "--format", "json", "--output", "/dev/full")),
    Case("audit with an unknown format", ("comply", "audit", "--format", "pdf")),
    Case("audit failing at an unknown severity", ("comply", "audit", "--fail-on", "severe")),
    Case("waiver with a bad date", ("comply", "waive", "x", "--reason", "r", "--expires", "someday")),
    Case("approve an unknown waiver", ("comply", "approve", "999999")),
    Case("evidence that does not exist", ("comply", "evidence", "get", "999999", "--output", "e.bin")),
    Case("evidence for an unknown subject", ("comply", "evidence", "add", "no-such-clause", TEXT)),
    Case("drill report of an unknown run", ("drill", "report", "no-such-run")),
    Case("drill report in an unknown format", ("drill", "report", "no-such-run", "--format", "pdf")),
    Case("audit search since a non-date", ("audit", "search", "--since", "yesterday-ish")),
    Case("verify a binary file", ("certs", "verify", BINARY)),
    Case("verify an empty file", ("certs", "verify", EMPTY)),
    Case("verify against a binary CA", ("certs", "verify", TEXT, "--ca", BINARY)),
    Case("scan a target without a port", ("certs", "scan", "127.0.0.1")),
    Case("scan a port out of range", ("certs", "scan", "127.0.0.1:99999")),
    Case("scan a non-numeric port", ("certs", "scan", "127.0.0.1:https")),
    Case("scan nothing", ("certs", "scan", "--no-save")),
    Case("issue with neither --cn nor --renew", ("certs", "issue", "--ca-dir", "ca")),
    Case("renew a binary certificate", ("certs", "issue", "--ca-dir", "ca", "--renew", BINARY)),
    Case("collect a missing file", ("certs", "collect", MISSING)),
    Case("vault entry that does not exist", ("vault", "get", "no-such-entry")),
    Case("vault secret empty on stdin", ("vault", "set", "x", "--key", "k", "--secret-stdin"), stdin=""),
    Case("lab faults naming no lab cloud", ("lab", "up", "--dir", "lab-x", "--faults", "faults-unknown-cloud.yaml")),
    Case("lab faults in a YAML list", ("lab", "up", "--dir", "lab-x", "--faults", YAML_LIST)),
    Case("lab faults not UTF-8", ("lab", "up", "--dir", "lab-x", "--faults", NOT_UTF8)),
    Case("lab at an unknown scale", ("lab", "up", "--dir", "lab-x", "--scale", "huge")),
    Case("lab port out of range", ("lab", "up", "--dir", "lab-x", "--port", "70000")),
    Case("lab with negative latency", ("lab", "up", "--dir", "lab-x", "--latency-ms", "-5")),
    Case("lab fault with no lab running", ("lab", "fault", "--dir", "lab-x", "--set", "http500")),
    Case("lab fault of an unknown kind", ("lab", "fault", "--dir", "lab-x", "--set", "meteor")),
    Case("lab down on a regular file", ("lab", "down", "--dir", TEXT)),
    Case("console on an address not here", ("console", "--host", "192.0.2.1")),
    Case("console on an empty address", ("console", "--host", "")),
    Case("stdout on a full disk", ("version",), stdout="/dev/full"),
    Case("JSON listing on a full disk", ("inventory", "list", "--format", "json"), stdout="/dev/full"),
    Case("unknown language is refused", ("--lang", "xx", "version")),
)

CASES = [*generated_cases(), *HAND_WRITTEN]


@pytest.fixture(scope="module")
def runner(workspace: Path) -> Iterator[ForkRunner]:
    forks = ForkRunner(workspace.parent / f"{workspace.name}-runs")
    yield forks
    forks.close()


def _run(case: Case, root: Path, runner: ForkRunner) -> Result:
    result = runner.run(list(case.argv), cwd=root, env=_env(root, case.env), stdin=case.stdin, stdout=case.stdout,
                        timeout=TIMEOUT_S)  # fmt: skip
    if result.timed_out:
        pytest.fail(f"{case.name}: still running after {TIMEOUT_S} s (a bad value was taken for a good one?)")
    return result


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_one_line_and_exit_1_or_2(case: Case, workspace: Path, runner: ForkRunner) -> None:
    proc = _run(case, workspace, runner)
    shown = f"argv={list(case.argv)} rc={proc.returncode}\nstdout:\n{proc.stdout[-2000:]}\nstderr:\n{proc.stderr}"
    assert "Traceback" not in proc.stdout + proc.stderr, shown
    assert proc.returncode in (1, 2), shown
    assert "internal error" not in proc.stderr and "内部错误" not in proc.stderr, shown
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, shown


@pytest.mark.parametrize("case", [c for c in HAND_WRITTEN if c.name in ("plan for another estate", "stdout on a full disk",
                                                                          "no such command")], ids=lambda c: c.name)
def test_the_console_script_answers_as_the_forked_entry_point(case: Case, workspace: Path, runner: ForkRunner) -> None:
    """The sweep forks the entry point to save its imports; the installed script itself agrees."""
    with open(case.stdout or os.devnull, "w") as sink:
        script = subprocess.run([GANYUN, *case.argv], cwd=workspace, env=_env(workspace, case.env), input=case.stdin,
                                stdout=sink if case.stdout else subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                timeout=TIMEOUT_S, check=False)  # fmt: skip
    forked = _run(case, workspace, runner)
    assert (script.returncode, script.stderr) == (forked.returncode, forked.stderr)


def test_every_command_is_swept() -> None:
    commands = [tuple(path) for path, _ in _leaf_commands()]
    missing = [" ".join(c) for c in commands if not any(case.argv[: len(c)] == c for case in CASES)]
    assert not missing, missing
    assert len(CASES) > 150  # the generator found the parameters (a typer upgrade could hide them)
