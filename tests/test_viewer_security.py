"""The viewer treats a run folder as untrusted: its page shows run data as text under a CSP, its server
hands out only the run's own files to loopback hosts, and `worldstereo view` refuses folders that are not runs."""

from __future__ import annotations

import html
import http.client
import json
import os
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fake_run import write_fake_run
from test_viewer import _browse, _browse_videos, _state
from worldstereo.cli import app
from worldstereo.safepath import UnsafePathError
from worldstereo.viewer import RunServer, write_viewer
from worldstereo.viewer.html import content_security_policy, page_is_current, script_json
from worldstereo.viewer.rundata import NotARunError

SCRIPT_NAME = "</script><script>document.body.dataset.pwned='script'</script>"
IMG_NAME = "<img src=x onerror=\"document.body.dataset.pwned='img'\">"  # no "/": it can be a folder name


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = write_fake_run(tmp_path_factory.mktemp("secure") / "run")
    write_viewer(root)
    return root


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """A run whose names hold HTML: trajectory 'orbit' renamed to IMG_NAME (folder and record), and a
    pending trajectory SCRIPT_NAME in the record only (a '/' cannot be in a folder name)."""
    root = write_fake_run(tmp_path_factory.mktemp("hostile") / "run")
    (root / "trajectories" / "orbit").rename(root / "trajectories" / IMG_NAME)
    record = json.loads((root / "run.json").read_text())
    record["order"] = [IMG_NAME, SCRIPT_NAME] + [n for n in record["order"] if n != "orbit"]
    record["trajectories"][IMG_NAME] = record["trajectories"].pop("orbit")
    record["trajectories"][SCRIPT_NAME] = {"status": "<b>pending</b>"}
    (root / "run.json").write_text(json.dumps(record))
    write_viewer(root)
    return root


def _request(server: RunServer, path: str, method: str = "GET", host: str | None = None, headers: dict | None = None):
    port = server.httpd.server_address[1]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.putrequest(method, path, skip_host=True)
    conn.putheader("Host", f"127.0.0.1:{port}" if host is None else host)
    for k, v in (headers or {}).items():
        conn.putheader(k, v)
    conn.endheaders()
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp.status, resp.headers, body


def test_embedded_json_cannot_close_its_script_tag():
    value = {"name": SCRIPT_NAME + "<!-- & \u2028\u2029 -->"}
    text = script_json(value)
    assert not set(text) & set("<>&\u2028\u2029")
    assert "\\u003c/script\\u003e" in text
    assert json.loads(text) == value


def test_hostile_names_stay_text_in_the_page(hostile, tmp_path):
    page = (hostile / "viewer.html").read_text()
    assert SCRIPT_NAME not in page and IMG_NAME not in page
    assert len(re.findall(r"<script\b", page)) == 3  # data block, three.js, app: nothing was added
    data = json.loads(re.search(r'<script type="application/json" id="run-data">(.*?)</script>', page, re.S).group(1))
    assert data["statuses"][SCRIPT_NAME] == "<b>pending</b>" and data["trajectories"][0]["name"] == IMG_NAME
    with RunServer(hostile) as server:
        state = _browse_videos(server.url + "viewer.html?frame=4", tmp_path)
        dom = _browse(server.url + "viewer.html?frame=4", tmp_path)
    attrs = state.attrs
    # the page fully works under its CSP: scene drawn, the hostile trajectory selected, its videos
    # (under a folder named with HTML) fetched through encoded URLs and seeked
    assert attrs["data-ready"] == "1" and int(attrs["data-nonblank"]) > 20_000
    assert attrs["data-highlight"] == f"{IMG_NAME}:4"
    assert set(dict(kv.split("=", 1) for kv in attrs["data-video-times"].split(",")).values()) != {""}
    assert "data-pwned" not in attrs
    # serialised DOM: the names are escaped text nodes, no element was made from them
    assert html.escape(f"{SCRIPT_NAME} (<b>pending</b>)", quote=False) in dom
    assert html.escape(IMG_NAME, quote=False) in dom
    assert re.search(r"<img[^>]*onerror", dom) is None and "<b>pending" not in dom
    assert any(SCRIPT_NAME in m for m in state.missing)  # listed as not a folder name, as text
    assert f"{SCRIPT_NAME} (<b>pending</b>)" in state.options_disabled


def test_csp_blocks_a_script_planted_in_the_page(run, tmp_path):
    """The same injected script runs in the page without its CSP and not with it (a planted viewer.html)."""
    page = write_viewer(run).read_text()
    planted = page.replace("</body>", "<script>document.body.dataset.pwned='1'</script></body>")
    (run / "viewer.html").write_text(planted)
    with RunServer(run) as server:
        attrs = _state(_browse(server.url + "viewer.html", tmp_path)).attrs
    assert attrs["data-ready"] == "1" and "data-pwned" not in attrs
    bare = tmp_path / "bare.html"
    bare.write_text(re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", planted))
    assert _state(_browse(bare.as_uri(), tmp_path)).attrs.get("data-pwned") == "1"
    assert not page_is_current(bare.with_name("absent.html"))
    write_viewer(run)


def test_server_headers(run):
    with RunServer(run) as server:
        for path, status in (("/viewer.html", 200), ("/secret.key", 404)):
            code, headers, _ = _request(server, path)
            assert code == status
            assert headers["X-Content-Type-Options"] == "nosniff" and headers["Referrer-Policy"] == "no-referrer"
            assert headers["Server"] == "worldstereo"
            csp = headers["Content-Security-Policy"]
            assert csp == content_security_policy()
            for directive in ("default-src 'none'", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'"):
                assert directive in csp
            assert "unsafe-inline" not in csp and "unsafe-eval" not in csp and "data:" not in csp
        code, headers, body = _request(server, "/run.json")
        assert code == 200 and headers["Content-Type"] == "application/json"
        assert json.loads(body) == json.loads((run / "run.json").read_text())
        code, headers, _ = _request(server, "/")
        assert code == 302 and headers["Location"] == "/viewer.html"


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "OPTIONS"])
def test_server_answers_only_get_and_head(run, method):
    with RunServer(run) as server:
        code, headers, _ = _request(server, "/run.json", method=method)
        assert code == 405 and headers["Allow"] == "GET, HEAD"
        code, headers, body = _request(server, "/run.json", method="HEAD")
        assert code == 200 and body == b"" and int(headers["Content-Length"]) == (run / "run.json").stat().st_size


def test_server_refuses_other_host_names(run):
    with RunServer(run) as server:
        port = server.httpd.server_address[1]
        for host in (f"127.0.0.1:{port}", "127.0.0.1", f"localhost:{port}", f"LOCALHOST:{port}", f"[::1]:{port}"):
            assert _request(server, "/run.json", host=host)[0] == 200, host
        for host in (f"evil.example:{port}", "evil.example", f"127.0.0.1:{port + 1}", f"localhost.evil.example:{port}",
                     f"127.0.0.2:{port}", ""):
            code, headers, _ = _request(server, "/run.json", host=host)
            assert code == 403 and headers["X-Content-Type-Options"] == "nosniff", host


def test_server_serves_only_the_runs_own_files(run, tmp_path):
    outside = tmp_path / "private.key"
    outside.write_text("PRIVATE")
    (run / "secret.key").write_text("PRIVATE")
    (run / "memory" / "secret.key").write_text("PRIVATE")
    (run / "trajectories" / "up" / "passwd.mp4").symlink_to("/etc/passwd")
    (run / "memory" / "escape.png").symlink_to(outside)
    (run / "memory" / "inner.png").symlink_to(run / "secret.key")  # inside the run, but not a run output
    (run / "memory" / "frame_link.png").symlink_to(run / "memory" / "frame_0001.png")
    (run / "linked").symlink_to(tmp_path)
    try:
        with RunServer(run) as server:
            refused = ["/secret.key", "/memory/secret.key", "/trajectories/up/passwd.mp4", "/memory/escape.png",
                       "/memory/inner.png", "/linked/private.key", "/memory/", "/memory", "/trajectories/up/",
                       "/trajectories/up/..%2f..%2fsecret.key", "/memory/..%2f..%2f..%2fprivate.key",
                       "/%2e%2e/private.key", "/.lock", "/memory/.frame_0001.png.tmp", "/etc/passwd",
                       "/trajectories/up/frames"]
            for path in refused:
                code, _, body = _request(server, path)
                assert code == 404 and b"PRIVATE" not in body and b"root:" not in body, path
            code, _, body = _request(server, "/memory/frame_link.png")  # a link to a run file is fine
            assert code == 200 and body == (run / "memory" / "frame_0001.png").read_bytes()
            for path in ("/memory/bank.json", "/trajectories/up/cameras.json", "/trajectories/up/video.mp4",
                         "/reconstruction/mesh.ply", "/input.png", "/cache.ply", "/viewer.html?x=1"):
                assert _request(server, path)[0] == 200, path
    finally:
        for p in ("secret.key", "memory/secret.key", "trajectories/up/passwd.mp4", "memory/escape.png",
                  "memory/inner.png", "memory/frame_link.png", "linked"):
            (run / p).unlink()


def test_server_refuses_a_folder_that_is_not_a_run(tmp_path):
    with pytest.raises(NotARunError, match="not a worldstereo run"):
        RunServer(tmp_path)


def test_viewer_html_is_written_only_inside_the_run(run, tmp_path):
    target = tmp_path / "bashrc"
    target.write_text("keep me")
    page = run / "viewer.html"
    page.unlink()
    page.symlink_to(target)
    try:
        with pytest.raises(UnsafePathError, match="outside"):
            write_viewer(run)
        assert target.read_text() == "keep me" and page.is_symlink()
    finally:
        page.unlink()
    write_viewer(run)
    assert page_is_current(page) and not page.is_symlink()
    assert not [p for p in run.iterdir() if p.name.startswith(".viewer.html")]  # no temporary left


def _listing(folder: Path) -> list:
    return sorted((str(p.relative_to(folder)), p.stat().st_mtime_ns) for p in folder.rglob("*"))


@pytest.mark.parametrize("record, message", [
    (None, "not a worldstereo run (no run.json)"),
    ('{"schema": 1}', "not a worldstereo run record"),
    ("not json", "not valid JSON"),
])
def test_view_refuses_a_folder_that_is_not_a_run(tmp_path, record, message):
    folder = tmp_path / "etc"
    (folder / "ssh").mkdir(parents=True)
    (folder / "ssh" / "id_ed25519").write_text("PRIVATE")
    if record is not None:
        (folder / "run.json").write_text(record)
    before = _listing(folder)
    result = CliRunner().invoke(app, ["view", str(folder), "--port", "0", "--no-browser"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "generate" in lines[0], result.output
    assert _listing(folder) == before


def test_view_reports_a_read_only_run_in_one_line(run, monkeypatch):
    """Tests run as root here, where chmod cannot make a folder read-only; os.access is what view consults."""
    (run / "viewer.html").write_text("<html>a page of another version</html>")
    real_access = os.access
    monkeypatch.setattr(os, "access",
                        lambda p, mode, **kw: False if Path(p) == run and mode & os.W_OK else real_access(p, mode, **kw))
    result = CliRunner().invoke(app, ["view", str(run), "--port", "0", "--no-browser"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "not writable" in lines[0] and "copy the run" in lines[0], result.output
    assert (run / "viewer.html").read_text() == "<html>a page of another version</html>"
    monkeypatch.undo()
    write_viewer(run)


def test_page_is_current_only_for_this_versions_page(run, tmp_path):
    write_viewer(run)
    assert page_is_current(run / "viewer.html")
    old = tmp_path / "old.html"
    shutil.copy(run / "viewer.html", old)
    old.write_text(old.read_text().replace("use strict", "use  strict", 1))
    assert not page_is_current(old)


def test_view_on_a_read_only_file_system(tmp_path):
    """A real read-only run (a tmpfs remounted read-only, as root) gets the same one line from `view`, and
    write_viewer's own error is one line naming viewer.html."""
    import subprocess

    folder = tmp_path / "ro"
    folder.mkdir()
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a read-only tmpfs (the os.access test above covers the message)")
    assert subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)]).returncode == 0
    try:
        (folder / "run.json").write_text('{"schema": 1, "trajectories": {}}')
        assert subprocess.run(["mount", "-o", "remount,ro", str(folder)]).returncode == 0
        result = CliRunner().invoke(app, ["view", str(folder), "--port", "0", "--no-browser"])
        lines = result.output.strip().splitlines()
        assert result.exit_code == 2 and len(lines) == 1 and "not writable" in lines[0], result.output
        with pytest.raises(ValueError, match="viewer.html") as err:
            write_viewer(folder)
        assert "\n" not in str(err.value)
        assert sorted(p.name for p in folder.iterdir()) == ["run.json"]
    finally:
        subprocess.run(["umount", str(folder)])
