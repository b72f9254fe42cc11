"""Every CLI example in the docs runs: ```bash lines starting with `worldstereo ` and ```console lines
starting with `$ worldstereo `, per page in a fresh folder, in the order written (later examples use the
files earlier ones made). A failing example fails with the command, its exit code and its stderr."""

from __future__ import annotations

import glob
import os
import re
import shlex
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from typer.testing import CliRunner

from worldstereo.cli import app

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)\s*$")


def cli_examples(page: Path) -> list[str]:
    """The `worldstereo ...` command lines of a page's bash and console blocks, in order."""
    found, lang = [], None
    for line in page.read_text().splitlines():
        m = FENCE.match(line.strip())
        if m:
            lang = m.group(1) if lang is None else None
            continue
        text = line.strip()
        if lang == "console" and text.startswith("$ worldstereo "):
            found.append(text[2:])
        elif lang in ("bash", "sh", "shell") and text.startswith("worldstereo "):
            found.append(text)
    return found


def _argv(command: str) -> list[str]:
    """The arguments after `worldstereo`, with comments dropped and globs expanded as a shell would."""
    argv = []
    for word in shlex.split(command, comments=True)[1:]:
        matches = sorted(glob.glob(word)) if any(c in word for c in "*?[") else []
        argv.extend(matches or [word])
    return argv


def _serve(argv: list[str]) -> tuple[int, str]:
    """`worldstereo view` serves until stopped: run it on a free port, fetch the page, stop it."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-m", "worldstereo.cli", *argv, "--port", "0", "--no-browser"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        url = proc.stdout.readline().strip()
        if not url.startswith("http://127.0.0.1:"):
            proc.kill()
            return 1, f"no URL on stdout ({url!r}); stderr: {proc.communicate()[1]}"
        with urllib.request.urlopen(url, timeout=30) as page:
            body = page.read()
        return (0, "") if page.status == 200 and b"<html" in body[:2000].lower() else (1, f"bad page at {url}")
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=30)


def run_example(command: str) -> None:
    argv = _argv(command)
    if argv[:1] == ["view"]:
        code, err = _serve(argv)
        assert code == 0, f"doc example failed: {command}\n{err}"
        return
    res = CliRunner().invoke(app, argv)
    if res.exit_code != 0:
        trace = ""
        if res.exc_info is not None and not isinstance(res.exception, SystemExit):
            import traceback

            trace = "".join(traceback.format_exception(*res.exc_info))
        pytest.fail(f"doc example failed (exit {res.exit_code}): {command}\nstderr:\n{res.stderr}\n"
                    f"stdout:\n{res.stdout}\n{trace}", pytrace=False)


def test_examples_are_found():
    found = {p.name: cli_examples(p) for p in PAGES}
    for name in ("README.md", "quickstart.md", "trajectories.md", "reconstruction.md"):
        assert found[name], f"{name}: no CLI examples found"
    every = " ".join(c for cs in found.values() for c in cs)
    for sub in ("generate", "reconstruct", "export", "view", "report", "doctor", "trajectory make",
                "trajectory show", "trajectory convert", "sample export", "sample list"):
        assert f"worldstereo {sub} " in every + " ", f"no doc example of `worldstereo {sub}`"


@pytest.mark.parametrize("page", [p for p in PAGES if cli_examples(p)], ids=lambda p: p.name)
def test_doc_examples_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    t0 = time.perf_counter()
    for command in cli_examples(page):
        run_example(command)
    print(f"{page.name}: {len(cli_examples(page))} examples in {time.perf_counter() - t0:.1f} s")
