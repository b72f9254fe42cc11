"""The run viewer: its data, its offline page, and the page in a real headless Chromium."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from fake_run import FPS, session_runs
from worldstereo.atomic import atomic_write_bytes
from worldstereo.camera import load_trajectory
from worldstereo.viewer import RunServer, load_run, write_viewer
from worldstereo.viewer.html import subsample_points, viewer_data
from worldstereo.viewer.rundata import NotARunError, read_ply_mesh, read_ply_points

REPO = Path(__file__).resolve().parents[1]
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--use-gl=swiftshader", "--enable-unsafe-swiftshader",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
                  "--hide-scrollbars", "--window-size=1280,900", "--virtual-time-budget=8000"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return session_runs(tmp_path_factory)


@pytest.fixture(scope="module")
def warp_run(tmp_path_factory):
    """A real (small) run: the demo's pipeline with the warp generator, reconstruction and viewer page."""
    from typer.testing import CliRunner

    from worldstereo.cli import app

    out = tmp_path_factory.mktemp("warp") / "run"
    result = CliRunner().invoke(app, ["demo", "--generator", "warp", "--max-side", "64", "--frames", "5",
                                      "-o", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    return out


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.fail("Chromium is not installed: the viewer test needs a real browser; "
                    "install Debian's package with `apt-get install -y chromium`")
    return exe


def _browse(url: str, tmp_path: Path, screenshot: Path | None = None) -> str:
    """Load ``url`` in headless Chromium; return the DOM after scripts ran (or write a screenshot)."""
    out = ["--screenshot=" + str(screenshot)] if screenshot else ["--dump-dom"]
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    proc = subprocess.run([_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *out, url],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


class _BodyAttrs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.attrs: dict = {}
        self.missing: list[str] = []
        self.options_disabled: list[str] = []
        self._in_missing = self._option_disabled = False

    def handle_starttag(self, tag, attrs):
        if tag == "body" and not self.attrs:
            self.attrs = dict(attrs)
        if tag == "details" and dict(attrs).get("id") == "missing":
            self._in_missing = True
        self._option_disabled = tag == "option" and "disabled" in dict(attrs)

    def handle_endtag(self, tag):
        if tag == "details":
            self._in_missing = False

    def handle_data(self, data):
        if self._in_missing and data.strip():
            self.missing.append(data.strip())
        if self._option_disabled:
            self.options_disabled.append(data.strip())
            self._option_disabled = False


def _state(dom: str) -> _BodyAttrs:
    parser = _BodyAttrs()
    parser.feed(dom)
    return parser


def _browse_videos(url: str, tmp_path: Path, tries: int = 3) -> _BodyAttrs:
    """Like ``_state(_browse(url))``, retried until the page reports its videos' seek positions.

    Chromium's virtual-time budget fast-forwards the page's timers but not the media pipeline, which decodes
    in real time: on a loaded machine the DOM can be dumped before the first ``seeked`` event (seen once in
    CI). A page that never seeks still fails after ``tries`` loads.
    """
    for _ in range(tries):
        state = _state(_browse(url, tmp_path))
        if "data-video-times" in state.attrs:
            break
    return state


def test_viewer_page_is_offline(runs, tmp_path):
    path = write_viewer(runs[0])
    page = path.read_text()
    assert re.search(r"""(src|href)\s*=\s*["']\s*(https?:)?//""", page) is None
    assert "<script src" not in page and "importmap" not in page and "data:text/javascript" not in page
    assert '<meta http-equiv="Content-Security-Policy"' in page
    # Opened straight from disk, without any server, the page still builds its scene and seeks its videos.
    state = _browse_videos(path.as_uri() + "?traj=orbit&frame=4", tmp_path).attrs
    assert state["data-ready"] == "1" and state["data-highlight"] == "orbit:4"
    t = f"{4.5 / FPS:.4f}"  # the middle of frame 4
    assert state["data-video-times"] == f"video={t},render={t},mask={t}"


def test_viewer_data_matches_run_files(runs):
    data = viewer_data(load_run(runs[0]))
    xyz, _ = read_ply_points(runs[0] / "cache.ply")
    assert data["layers"]["cache"]["n"] == data["layers"]["cache"]["total"] == len(xyz)
    assert data["layers"]["points"]["n"] == len(read_ply_points(runs[0] / "reconstruction/points.ply")[0])
    _, _, tris = read_ply_mesh(runs[0] / "reconstruction/mesh.ply")
    assert data["layers"]["mesh"]["faces"] == len(tris)
    small = viewer_data(load_run(runs[0]), point_budget=1000, face_budget=len(tris) - 1)
    assert small["layers"]["cache"]["n"] == 1000 and small["layers"]["cache"]["total"] == len(xyz)
    assert "mesh" not in small["layers"]
    assert small["missing"] == [f"reconstruction/mesh.ply: {len(tris)} triangles, over the viewer's budget of "
                                f"{len(tris) - 1}; open it in a mesh viewer"]
    assert [t["name"] for t in data["trajectories"]] == ["orbit", "up", "right", "left"]
    traj = load_trajectory(runs[0] / "trajectories" / "up" / "cameras.json")
    corners = np.asarray(data["trajectories"][1]["corners"]).reshape(-1, 5, 3)
    np.testing.assert_allclose(corners[:, 0], traj.cameras.centers, atol=1e-4)
    assert data["trajectories"][1]["videos"] == {k: f"trajectories/up/{k}.mp4" for k in ("video", "render", "mask")}
    assert len(data["bank"]) == len(json.loads((runs[0] / "memory" / "bank.json").read_text())["frames"])
    assert data["missing"] == []


def test_ply_readers_agree_with_open3d(runs):
    import open3d as o3d

    xyz, rgb = read_ply_points(runs[0] / "cache.ply")
    pcd = o3d.io.read_point_cloud(str(runs[0] / "cache.ply"))
    np.testing.assert_allclose(xyz, np.asarray(pcd.points), atol=1e-6)
    np.testing.assert_array_equal(rgb, np.round(np.asarray(pcd.colors) * 255).astype(np.uint8))
    xyz, rgb, tris = read_ply_mesh(runs[0] / "reconstruction/mesh.ply")
    mesh = o3d.io.read_triangle_mesh(str(runs[0] / "reconstruction/mesh.ply"))
    np.testing.assert_allclose(xyz, np.asarray(mesh.vertices), atol=1e-6)
    np.testing.assert_array_equal(tris, np.asarray(mesh.triangles))
    np.testing.assert_array_equal(rgb, np.round(np.asarray(mesh.vertex_colors) * 255).astype(np.uint8))


def test_read_ply_mesh_rejects_polygons(tmp_path):
    from plyfile import PlyData, PlyElement

    v = np.zeros(4, dtype=[("x", "f4"), ("y", "f4"), ("z", "f4")])
    f = np.empty(1, dtype=[("vertex_indices", "i4", (4,))])
    f["vertex_indices"] = [0, 1, 2, 3]
    PlyData([PlyElement.describe(v, "vertex"), PlyElement.describe(f, "face")]).write(str(tmp_path / "quad.ply"))
    with pytest.raises(ValueError, match="faces must be triangles, got 4-gons"):
        read_ply_mesh(tmp_path / "quad.ply")


def test_subsample_points_keeps_budget_and_pairs():
    xyz = np.arange(3000, dtype=np.float32).reshape(1000, 3)
    rgb = (np.arange(3000) % 256).astype(np.uint8).reshape(1000, 3)
    sx, sc = subsample_points(xyz, rgb, 100)
    assert len(sx) == len(sc) == 100 and len(np.unique(sx[:, 0])) == 100
    idx = (sx[:, 0] / 3).astype(int)
    np.testing.assert_array_equal(sc, rgb[idx])
    assert subsample_points(xyz, rgb, 5000)[0] is xyz


def test_partial_run_lists_what_is_missing(runs, tmp_path):
    data = viewer_data(load_run(runs[1]))
    assert [t["name"] for t in data["trajectories"]] == ["orbit", "up", "right"]
    assert data["trajectories"][2]["videos"] == {}
    assert "trajectories/left/: not started (pending)" in data["missing"]
    assert "memory/: 13 of 13 bank images not written" in data["missing"]
    write_viewer(runs[1])
    with RunServer(runs[1]) as server:
        state = _state(_browse(server.url + "viewer.html?traj=right&frame=4", tmp_path))
    assert state.attrs["data-ready"] == "1" and state.attrs["data-highlight"] == "right:4"
    assert any("left/: not started" in m for m in state.missing)
    assert "left (pending)" in state.options_disabled


def test_viewer_in_headless_chromium(runs, tmp_path):
    """The 3D canvas draws, and the frame slider moves the highlighted camera and its reference."""
    run = runs[0]
    write_viewer(run)
    traj = load_trajectory(run / "trajectories" / "up" / "cameras.json")
    refs = json.loads((run / "trajectories" / "up" / "references.json").read_text())
    shot = tmp_path / "viewer.png"
    with RunServer(run) as server:
        # Frame 4 with the reconstructed mesh alone, frame 8 with the default layer (cache points).
        states = {f: _browse_videos(server.url + f"viewer.html?traj=up&frame={f}" + ("&layers=mesh" if f == 4 else ""),
                                    tmp_path).attrs for f in (4, 8)}
        _browse(server.url + "viewer.html?traj=up&frame=8&layers=cache,mesh", tmp_path, screenshot=shot)
    for f, s in states.items():
        assert s["data-ready"] == "1", s
        assert int(s["data-nonblank"]) > 20_000, s  # points and frustums cover far more than a few pixels
        assert s["data-highlight"] == f"up:{f}"
        centre = np.array([float(v) for v in s["data-highlight-center"].split(",")])
        np.testing.assert_allclose(centre, traj.cameras.centers[f], atol=1e-4)
        assert s["data-reference"] == str(refs["references"][refs["targets"].index(f)])
        times = dict(kv.split("=") for kv in s["data-video-times"].split(","))
        assert set(times) == {"video", "render", "mask"}
        for t in times.values():  # every video seeked into frame f's display interval
            assert f / traj.fps <= float(t) < (f + 1) / traj.fps
    assert states[4]["data-reference"] != states[8]["data-reference"]
    cache, faces = len(read_ply_points(run / "cache.ply")[0]), len(read_ply_mesh(run / "reconstruction/mesh.ply")[2])
    assert states[4]["data-layers"] == f"mesh:{faces}"
    assert states[8]["data-layers"] == f"cache:{cache}"

    import imageio.v3 as iio

    img = iio.imread(shot)[..., :3].astype(int)
    canvas = img[80:640]
    background = np.array([0x15, 0x17, 0x1C])
    assert (np.abs(canvas - background).sum(-1) > 12).mean() > 0.03
    highlight = (canvas[..., 0] > 230) & (canvas[..., 1] > 200) & (canvas[..., 2] < 120)
    assert highlight.sum() > 50  # the yellow current-camera frustum is drawn
    # a test must not write into the checkout; set WORLDSTEREO_SCREENSHOTS=DIR to keep the picture
    keep = os.environ.get("WORLDSTEREO_SCREENSHOTS")
    if keep:
        atomic_write_bytes(Path(keep) / "viewer.png", shot.read_bytes())


def test_view_command_serves_the_run(runs):
    env = {**os.environ, "PYTHONPATH": str(REPO / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    (runs[0] / "viewer.html").unlink(missing_ok=True)
    proc = subprocess.Popen([sys.executable, "-m", "worldstereo.cli", "view", str(runs[0]), "--port", "0", "--no-browser"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        url = proc.stdout.readline().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/viewer\.html", url), url
        with urllib.request.urlopen(url, timeout=30) as r:
            assert b'id="run-data"' in r.read()
        with urllib.request.urlopen(url.replace("viewer.html", "trajectories/up/video.mp4"), timeout=30) as r:
            assert r.headers["Content-Type"] == "video/mp4" and r.read(12)[4:8] == b"ftyp"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    assert proc.returncode == 0
    assert (runs[0] / "viewer.html").is_file()


def test_view_command_rejects_a_missing_folder_and_a_busy_port(runs, tmp_path):
    import socket

    from typer.testing import CliRunner

    from worldstereo.cli import app

    result = CliRunner().invoke(app, ["view", str(tmp_path / "nope"), "--no-browser"])
    assert result.exit_code == 2 and "not a folder" in result.output
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(app, ["view", str(runs[1]), "--port", str(port), "--no-browser"])
    assert result.exit_code == 2 and f"cannot listen on 127.0.0.1:{port}" in result.output


def test_server_answers_byte_ranges(runs):
    """Browsers seek videos only when the server honours Range (206), which http.server alone does not."""
    data = (runs[0] / "trajectories/up/video.mp4").read_bytes()
    with RunServer(runs[0]) as server:
        url = server.url + "trajectories/up/video.mp4"

        def get(rng):
            req = urllib.request.Request(url, headers={"Range": rng})
            try:
                with urllib.request.urlopen(req, timeout=30) as r:
                    return r.status, r.headers.get("Content-Range"), r.read()
            except urllib.error.HTTPError as err:
                return err.code, err.headers.get("Content-Range"), b""

        assert get("bytes=10-99") == (206, f"bytes 10-99/{len(data)}", data[10:100])
        assert get("bytes=100-") == (206, f"bytes 100-{len(data) - 1}/{len(data)}", data[100:])
        assert get("bytes=-16") == (206, f"bytes {len(data) - 16}-{len(data) - 1}/{len(data)}", data[-16:])
        assert get(f"bytes={len(data)}-")[:2] == (416, f"bytes */{len(data)}")
        with urllib.request.urlopen(url, timeout=30) as r:
            assert r.status == 200 and r.read() == data


def test_a_bare_run_record_gives_a_page_that_says_everything_is_missing(tmp_path):
    (tmp_path / "run.json").write_text('{"schema": 1, "trajectories": {}}')
    page = write_viewer(tmp_path).read_text()
    data = json.loads(re.search(r'<script type="application/json" id="run-data">(.*?)</script>', page, re.S).group(1))
    assert data["layers"] == {} and data["trajectories"] == [] and data["bank"] == []
    assert {"cache.ply: not written", "memory/bank.json: not written", "input.png: not written"} <= set(data["missing"])


@pytest.mark.parametrize("record, message", [
    (None, "not a worldstereo run (no run.json)"),
    ("[1, 2]", "not a worldstereo run record"),
    ('{"schema": "1", "trajectories": {}}', "not a worldstereo run record"),
    ('{"schema": 1, "trajectories": []}', "not a worldstereo run record"),
    ('{"schema": 1, ', "not valid JSON"),
])
def test_a_folder_that_is_not_a_run_is_refused_before_writing(tmp_path, record, message):
    if record is not None:
        (tmp_path / "run.json").write_text(record)
    before = sorted(tmp_path.iterdir())
    with pytest.raises(NotARunError, match=re.escape(message)):
        write_viewer(tmp_path)
    assert sorted(tmp_path.iterdir()) == before
    with pytest.raises(NotARunError, match="not a folder"):
        write_viewer(tmp_path / "absent")


def test_bank_cameras_are_read_as_memory_bank_writes_them(tmp_path):
    """memory/bank.json holds ``Cameras.to_dict()`` of one camera (K (1, 3, 3)); the viewer reads that shape
    (issue 19: it expected (3, 3) and dropped every bank frame), and a frame holding two cameras is refused."""
    from worldstereo.camera import Cameras, intrinsics_from_fov
    from worldstereo.memory import MemoryBank

    cams = Cameras.identity(intrinsics_from_fov(60.0, 16, 12), 16, 12, 2)
    moved = cams.cam_from_world.copy()
    moved[1, 0, 3] = 0.5
    cams = Cameras(cams.K, moved, 16, 12)
    bank = MemoryBank()
    bank.add(np.zeros((12, 16, 3), np.float32), cams[0], source="input")
    bank.add(np.ones((12, 16, 3), np.float32), cams[1], source="orbit", index=4)
    (tmp_path / "run.json").write_text('{"schema": 1, "trajectories": {}}')
    bank.save(tmp_path / "memory")
    run = load_run(tmp_path)
    assert [b.source for b in run.bank] == ["input", "orbit"] and not any("bank" in m for m in run.missing)
    assert run.bank[1].image == "memory/frame_0001.png"
    np.testing.assert_allclose(run.bank[1].camera.cam_from_world, cams[1].cam_from_world)
    meta = json.loads((tmp_path / "memory/bank.json").read_text())
    meta["frames"][1]["camera"] = cams.to_dict()
    (tmp_path / "memory/bank.json").write_text(json.dumps(meta))
    run = load_run(tmp_path)
    assert len(run.bank) == 1
    assert "memory/bank.json: frame 1 has no valid camera (holds 2 cameras, a bank frame has one)" in run.missing


def test_real_run_has_nothing_missing_and_draws_its_memory_bank(warp_run, tmp_path):
    """Issue 19: after a real run the viewer listed every bank frame as 'no valid camera' and drew no bank frustum."""
    import imageio.v3 as iio

    from worldstereo.memory import MemoryBank

    assert load_run(warp_run).missing == []
    bank = MemoryBank.load(warp_run / "memory")
    page = (warp_run / "viewer.html").read_text()
    data = json.loads(re.search(r'<script type="application/json" id="run-data">(.*?)</script>', page, re.S).group(1))
    assert data["missing"] == [] and len(data["bank"]) == len(bank) > 1
    corners = np.asarray([b["corners"] for b in data["bank"]]).reshape(-1, 5, 3)
    np.testing.assert_allclose(corners[:, 0], np.concatenate([f.camera.centers for f in bank.frames]), atol=1e-4)
    assert [b["image"] for b in data["bank"]] == [f"memory/frame_{i:04d}.png" for i in range(len(bank))]
    shots = {}
    with RunServer(warp_run) as server:
        for show in ("1", "0"):
            url = server.url + f"viewer.html?layers=none&bank={show}"
            assert _state(_browse(url, tmp_path)).attrs["data-bank-frustums"] == (str(len(bank)) if show == "1" else "0")
            shots[show] = tmp_path / f"bank{show}.png"
            _browse(url, tmp_path, screenshot=shots[show])
    with_bank, without = (iio.imread(shots[k])[80:640, :, :3].astype(int) for k in ("1", "0"))
    # the bank's grey frustums change pixels of the 3D view (they overlap the trajectories' own frustums,
    # so changed pixels are counted rather than non-background ones)
    assert (np.abs(with_bank - without).sum(-1) > 30).sum() > 100
    keep = os.environ.get("WORLDSTEREO_SCREENSHOTS")
    if keep:
        atomic_write_bytes(Path(keep) / "viewer-bank.png", shots["1"].read_bytes())


def test_viewer_data_draws_the_planners_chosen_admitted_and_refused_paths(runs, tmp_path):
    root = tmp_path / "run"
    shutil.copytree(runs[0], root)
    record = json.loads((root / "run.json").read_text())
    path = [[0.0, 0.0, 0.0], [0.1, 0.0, 0.2], [0.2, 0.0, 0.4]]
    record["plan"] = {"mode": "auto", "steps": [{"step": 0, "chosen": "a1-dolly-0.2", "candidates": [
        {"name": "dolly-0.2", "accepted": True, "gain": 0.3, "path": path},
        {"name": "pan-45", "accepted": True, "gain": 0.1, "path": path},
        {"name": "left-90-p1.0", "accepted": False, "reason": "camera 3 leaves known free space", "path": path},
        {"name": "broken", "accepted": False, "reason": "x", "path": [[0.0, "a", 1.0]]},
    ]}]}
    (root / "run.json").write_text(json.dumps(record))
    data = viewer_data(load_run(root))
    assert [(p["name"], p["kind"]) for p in data["plan"]] == [
        ("dolly-0.2", "chosen"), ("pan-45", "admitted"), ("left-90-p1.0", "refused")]
    assert data["plan"][2]["reason"].startswith("camera 3") and data["plan"][0]["path"] == np.ravel(path).tolist()
    assert any("plan step 0" in m for m in data["missing"])
    assert viewer_data(load_run(runs[0]))["plan"] == []  # a run of the default plan draws none
