"""`kgflow demo`, the README's first command, as a newcomer runs it: the right answer first, then it ends
at once and leaves nothing running."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _processes_of(home: Path) -> list[int]:
    """Live processes started for this kgflow home: their environment names it (daemons detach into
    sessions of their own, so a process group would not find them)."""
    mark = f"KGFLOW_HOME={home}".encode()
    out = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit() and int(p.name) != os.getpid():
            try:
                if mark in (p / "environ").read_bytes().split(b"\0") and b"Z" not in (p / "stat").read_bytes()[-60:]:
                    out.append(int(p.name))
            except OSError:
                continue
    return out


@pytest.fixture(scope="module")
def demo_run(knowledge_base, tmp_path_factory):
    home = tmp_path_factory.mktemp("demo") / "kg"
    shutil.copytree(knowledge_base, home, symlinks=True, ignore=shutil.ignore_patterns("airflow", "run", "logs"))
    # the demo sets up Airflow for its own home, as on a fresh machine
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}, "KGFLOW_HOME": str(home)}
    proc = subprocess.Popen([sys.executable, "-m", "kgflow.cli.app", "demo"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines, answered = [], None
    for line in proc.stdout:
        lines.append(line.rstrip("\n"))
        if line.startswith("A:") and answered is None:
            answered = time.monotonic()
    proc.wait(600)
    ended = time.monotonic()
    yield {"rc": proc.returncode, "lines": lines, "after_answer_s": ended - answered if answered else None,
           "left": _processes_of(home)}


def test_the_demos_first_answer_line_names_the_right_person(demo_run):
    assert demo_run["rc"] == 0, "\n".join(demo_run["lines"][-30:])
    assert next(x for x in demo_run["lines"] if x.startswith("A:")).startswith("A: Maria Lindqvist")


def test_the_demo_ends_within_five_seconds_of_its_answer(demo_run):
    assert demo_run["after_answer_s"] is not None and demo_run["after_answer_s"] <= 5


def test_the_demo_leaves_no_process_behind(demo_run):
    assert demo_run["left"] == []
