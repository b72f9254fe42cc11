"""Fuzzing the loaders of untrusted files: any input either loads or raises the project's own error,
one line, naming the file.

For each format a valid file is written once; hypothesis then draws near-valid mutations of it
(a value replaced by a wrong type, ``NaN`` / ``Infinity`` / ``1e400`` / huge integers, deep nesting,
a key or line removed, wrong shapes, negative sizes, empty arrays, bytes that are not UTF-8) as
well as arbitrary JSON, text and bytes. Runs are deterministic (``derandomize``, no example
database) and bounded (``WS_FUZZ_EXAMPLES`` examples per format, 300 by default).

A bigger campaign that counts crash signatures instead of stopping at the first::

    PYTHONPATH=src python tests/test_loaders_fuzz.py --examples 5000
"""

from __future__ import annotations

import copy
import json
import os
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent))
from conftest import random_cameras  # noqa: E402

from worldstereo.camera import CameraTrajectory, Cameras, TrajectoryFileError, load_trajectory  # noqa: E402
from worldstereo.camera.formats import read_trajectory, write_trajectory  # noqa: E402
from worldstereo.jsonio import JSONInputError  # noqa: E402

EXAMPLES = int(os.environ.get("WS_FUZZ_EXAMPLES", "300"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None, print_blob=False,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])

# -- hostile values ----------------------------------------------------------------------------------------
# Raw JSON that json.dumps cannot write: placed as sentinel strings, substituted in the text.
DEEP = 5000
RAW = {
    "@nan@": "NaN", "@inf@": "Infinity", "@-inf@": "-Infinity", "@1e400@": "1e400", "@-1e400@": "-1e400",
    "@bigint@": "9" * 5000, "@int64@": str(2**64), "@deeplist@": "[" * DEEP + "]" * DEEP,
    "@deepdict@": '{"a":' * DEEP + "1" + "}" * DEEP, "@nest70@": "[" * 70 + "1" + "]" * 70,
}
WRONG = [None, True, False, 0, -1, 1, 0.5, -0.0, 1e308, -1e308, 5e-324, 2**63 - 1, -(2**63), "", "1", "x" * 300,
         "../../victim", "/abs/path", "con", [], {}, [[]], [1, 2], [[1, 2, 3]] * 3, {"a": 1}, "\u0000", "\U0001F600"]
JSON_LEAF = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70),
                      st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20))
JSON_VALUES = st.recursive(JSON_LEAF, lambda inner: st.one_of(st.lists(inner, max_size=5),
                                                              st.dictionaries(st.text(max_size=8), inner, max_size=5)),
                           max_leaves=30)
TOKENS = ["nan", "NaN", "inf", "-inf", "1e400", "-1", "0", "0.0", "1e308", "9" * 5000, "abc", "PINHOLE", "OPENCV",
          "1", "-0", "0x10", "1_000", "\u00e9", "\U0001F600"]


def _paths(doc: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, prefix + (i,))
    return out


def _get(doc, path):
    for p in path:
        doc = doc[p]
    return doc


@st.composite
def _mutate_json(draw, valid: Any) -> bytes:
    doc = copy.deepcopy(valid)
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(doc)
        path = draw(st.sampled_from(paths))
        op = draw(st.sampled_from(["raw", "wrong", "any", "delete", "number", "shape", "empty", "wrap"]))
        if op == "raw":
            new = draw(st.sampled_from(sorted(RAW)))
        elif op == "wrong":
            new = copy.deepcopy(draw(st.sampled_from(WRONG)))
        elif op == "any":
            new = draw(JSON_VALUES)
        elif op == "number":
            old = _get(doc, path)
            numeric = isinstance(old, (int, float)) and not isinstance(old, bool) and abs(old) < 1e300
            base = float(old) if numeric else 1.0
            new = draw(st.sampled_from([-base, 0, base * 1e300, base + 0.5, base * 10**6, int(base) * 2**40]))
        elif op == "shape":
            old = _get(doc, path)
            new = (old[:-1] if draw(st.booleans()) else old + old[:1]) if isinstance(old, list) and old else [old, old]
        elif op == "empty":
            new = draw(st.sampled_from([[], {}, ""]))
        elif op == "wrap":
            new = [_get(doc, path)]
        else:
            new = None
        if not path:
            doc = new if op != "delete" else {}
            continue
        parent = _get(doc, path[:-1])
        if op == "delete":
            del parent[path[-1]]
        else:
            parent[path[-1]] = new
    text = json.dumps(doc)
    for sentinel, raw in RAW.items():
        text = text.replace(json.dumps(sentinel), raw)
    return draw(_byte_damage(text.encode()))


@st.composite
def _byte_damage(draw, data: bytes) -> bytes:
    """Usually ``data`` unchanged; sometimes truncated, or with bytes that are not UTF-8 spliced in."""
    op = draw(st.sampled_from(["keep"] * 6 + ["truncate", "invalid", "flip"]))
    if op == "keep" or not data:
        return data
    at = draw(st.integers(0, len(data) - 1))
    if op == "truncate":
        return data[:at]
    if op == "invalid":
        return data[:at] + draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\x00"])) + data[at:]
    return data[:at] + bytes([data[at] ^ (1 << draw(st.integers(0, 7)))]) + data[at + 1:]


@st.composite
def _mutate_text(draw, valid: str) -> bytes:
    lines = [line.split(" ") for line in valid.splitlines()]
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["token", "token", "drop_token", "add_token", "drop_line", "dup_line", "any_line"]))
        n = draw(st.integers(0, len(lines) - 1)) if lines else 0
        if op == "any_line" or not lines:
            lines.insert(n, draw(st.text(max_size=40)).split(" "))
            continue
        line = lines[n]
        k = draw(st.integers(0, max(len(line) - 1, 0)))
        if op == "token" and line:
            line[k] = draw(st.one_of(st.sampled_from(TOKENS), st.text(max_size=8),
                                     st.floats(allow_nan=True, allow_infinity=True).map(repr)))
        elif op == "drop_token" and line:
            del line[k]
        elif op == "add_token":
            line.insert(k, draw(st.sampled_from(TOKENS)))
        elif op == "drop_line":
            del lines[n]
        else:
            lines.insert(n, list(line))
    return draw(_byte_damage("\n".join(" ".join(t) for t in lines).encode("utf-8", "surrogatepass")))


def _inputs(mutations: st.SearchStrategy, text: bool = False) -> st.SearchStrategy:
    """Mostly near-valid mutations; some arbitrary JSON (or text) and arbitrary bytes."""
    anything = st.text(max_size=200).map(lambda s: s.encode("utf-8", "surrogatepass")) if text else \
        JSON_VALUES.map(lambda v: json.dumps(v).encode())
    return st.one_of(mutations, mutations, mutations, anything, st.binary(max_size=200))


# -- formats: a valid fixture, the file(s) hypothesis rewrites, the loader and its error class -------------------
@dataclass
class Format:
    name: str
    error: type
    files: dict[str, Any]  # file name -> valid bytes
    load: Callable[[Path], Any]
    strategy: st.SearchStrategy  # draws (file name, bytes)


def _cams(n: int = 3) -> Cameras:
    return random_cameras(np.random.default_rng(7), n=n, width=32, height=24)


def _written(tmp: Path, fmt: str, fname: str, traj: CameraTrajectory) -> dict[str, bytes]:
    out = tmp / fname
    write_trajectory(traj, out, fmt, depth=2.0)
    if out.is_dir():
        return {f"{fname}/{p.name}": p.read_bytes() for p in sorted(out.iterdir())}
    return {fname: out.read_bytes()}


def _json_format(name: str, error: type, files: dict[str, bytes], load: Callable[[Path], Any]) -> Format:
    strategies = [st.tuples(st.just(f), _inputs(_mutate_json(json.loads(data))))
                  for f, data in files.items() if f.endswith(".json")]
    return Format(name, error, files, load, st.one_of(strategies))


def _text_format(name: str, error: type, files: dict[str, bytes], load: Callable[[Path], Any]) -> Format:
    strategies = [st.tuples(st.just(f), _inputs(_mutate_text(data.decode()), text=True)) for f, data in files.items()]
    return Format(name, error, files, load, st.one_of(strategies))


def _make_formats(tmp: Path) -> dict[str, Format]:
    from worldstereo.data.samples import Sample, read_sample, write_sample
    from worldstereo.memory import Cache3D, MemoryBank

    tmp.mkdir(parents=True, exist_ok=True)
    traj = CameraTrajectory(_cams(), name="fuzz", kind="custom", fps=12.0)
    base = traj.with_cameras(traj.cameras.transformed(traj.cameras.world_from_cam[0]))
    rng = np.random.default_rng(3)
    image = rng.uniform(0, 1, (24, 32, 3)).astype(np.float32)
    depth = rng.uniform(1, 2, (24, 32)).astype(np.float32)
    cam = Cameras(_cams(1).K[0], np.eye(4), 32, 24)

    bank_dir = tmp / "bank"
    bank = MemoryBank()
    bank.add(image, cam, depth)
    bank.add(image[::-1].copy(), cam, None, source="orbit", index=3)
    bank.save(bank_dir)
    cache = Cache3D.from_image(image, depth, cam)
    cache.add_frames(image[None], depth[None], cam)  # an alignment entry in the sidecar
    (tmp / "cache").mkdir(exist_ok=True)
    cache.save(tmp / "cache" / "cache.ply")
    write_sample(Sample("fuzz", image, depth, cam.K[0], {"name": "fuzz", "depth": {"scale": 1000.0}}), tmp / "sample")

    def rel(folder: str) -> dict[str, bytes]:
        return {f"{folder}/{p.name}": p.read_bytes() for p in sorted((tmp / folder).iterdir())}

    wd = 32
    return {f.name: f for f in [
        _json_format("trajectory", TrajectoryFileError, _written(tmp, "worldstereo", "t.json", traj),
                     lambda d: load_trajectory(d / "t.json")),
        _json_format("official", TrajectoryFileError, _written(tmp, "official", "camera.json", base),
                     lambda d: read_trajectory(d / "camera.json", "official")),
        _json_format("nerfstudio", TrajectoryFileError, _written(tmp, "nerfstudio", "transforms.json", traj),
                     lambda d: read_trajectory(d / "transforms.json", "nerfstudio")),
        _text_format("colmap", TrajectoryFileError, _written(tmp, "colmap", "model", traj),
                     lambda d: read_trajectory(d / "model", "colmap")),
        _text_format("re10k", TrajectoryFileError, _written(tmp, "re10k", "cams.txt", traj),
                     lambda d: read_trajectory(d / "cams.txt", "re10k", width=wd, height=24)),
        _json_format("bank", JSONInputError, rel("bank"), lambda d: MemoryBank.load(d / "bank")),
        _json_format("cache", JSONInputError, rel("cache"), lambda d: Cache3D.load(d / "cache" / "cache.ply")),
        _json_format("sample", JSONInputError, rel("sample"), lambda d: read_sample(d / "sample")),
    ]}


@pytest.fixture(scope="module")
def formats(tmp_path_factory) -> tuple[Path, dict[str, Format]]:
    tmp = tmp_path_factory.mktemp("fuzz")
    return tmp, _make_formats(tmp)


def _outcome(fmt: Format, root: Path, fname: str, data: bytes) -> str | None:
    """None if loading ``data`` as ``fname`` succeeds or fails cleanly; else the crash signature."""
    target = root / fname
    target.write_bytes(data)
    try:
        fmt.load(root)
    except fmt.error as exc:
        msg = str(exc)
        if str(target) not in msg and str(target.parent) not in msg:
            return f"{type(exc).__name__} not naming the file: {msg[:100]}"
        if "\n" in msg:
            return f"{type(exc).__name__} over several lines: {msg[:100]}"
    except RecursionError:
        return "RecursionError"
    except Exception as exc:  # anything else is what this test exists to find
        return f"{type(exc).__name__}: {str(exc)[:80]}"
    finally:
        target.write_bytes(fmt.files[fname])
    return None


@pytest.mark.parametrize("name", ["trajectory", "official", "nerfstudio", "colmap", "re10k", "bank", "cache", "sample"])
def test_loader_fuzz_raises_only_the_project_error_naming_the_file(formats, name):
    root, fmts = formats
    fmt = fmts[name]
    for f, data in fmt.files.items():  # the fixture itself loads: the mutations start from a valid file
        assert _outcome(fmt, root, f, data) is None

    @FUZZ
    @given(case=fmt.strategy)
    def run(case):
        fname, data = case
        signature = _outcome(fmt, root, fname, data)
        assert signature is None, signature

    run()


# -- regressions: one per crash signature of the first fuzz run ------------------------------------------------
def _deep(kind: str = "list") -> str:
    return "[" * DEEP + "]" * DEEP if kind == "list" else '{"a":' * DEEP + "1" + "}" * DEEP


@pytest.mark.parametrize("name", ["trajectory", "official", "nerfstudio", "bank", "cache", "sample"])
@pytest.mark.parametrize("kind", ["list", "dict"])
def test_deep_nesting_is_a_clean_error_in_every_json_loader(formats, name, kind):
    root, fmts = formats
    fmt = fmts[name]
    fname = next(f for f in fmt.files if f.endswith(".json"))
    (root / fname).write_text(_deep(kind))
    try:
        with pytest.raises(fmt.error, match=r"nested deeper than 64 levels") as exc:
            fmt.load(root)
        assert str(exc.value).startswith(str(root / fname))
    finally:
        (root / fname).write_bytes(fmt.files[fname])


def _scene_folder(tmp_path: Path) -> Path:
    from worldstereo.reconstruction.result import ReconstructedScene

    d = tmp_path / "scene"
    d.mkdir()
    np.savez(d / "scene.npz", mesh_vertices=np.zeros((3, 3)), mesh_faces=np.array([[0, 1, 2]]), points=np.zeros((1, 3)))
    (d / "cameras.json").write_text(json.dumps(_cams(2).to_dict()))
    (d / "metadata.json").write_text(json.dumps({"quality_metrics": {"f1": None}}))
    assert len(ReconstructedScene.load(d).cameras) == 2
    return d


@pytest.mark.parametrize("fname, text, message", [
    ("cameras.json", _deep(), "nested deeper than 64 levels"),
    ("metadata.json", _deep("dict"), "nested deeper than 64 levels"),
    ("cameras.json", json.dumps({"width": 32, "height": 24, "K": "x", "cam_from_world": np.eye(4).tolist()}),
     r"cameras.json: K: 'x' is not valid"),
    ("cameras.json", '{"width": 1e400}', "out of range"),
    ("metadata.json", "[1]", r"metadata.json: \(top level\): \[1\] is not of type 'object'"),
])
def test_scene_loader_json_errors_are_located(tmp_path, fname, text, message):
    from worldstereo.reconstruction.result import ReconstructedScene

    d = _scene_folder(tmp_path)
    (d / fname).write_text(text)
    with pytest.raises(JSONInputError, match=message) as exc:
        ReconstructedScene.load(d)
    assert str(exc.value).startswith(str(d / fname))


def _official(tmp_path: Path, **edits) -> Path:
    data = {"extrinsic": [np.eye(4).tolist()] * 2, "intrinsic": [[[30.0, 0, 16], [0, 30.0, 12], [0, 0, 1]]] * 2,
            "width": 32, "height": 24}
    data.update(edits)
    p = tmp_path / "camera.json"
    p.write_text(json.dumps(data).replace('"@1e400@"', "1e400"))
    return p


@pytest.mark.parametrize("edits, message", [
    ({"width": [32]}, r"width: expected a finite number, got list"),  # was TypeError: int() of a list
    ({"width": "@1e400@"}, r"number 1e400 is out of range"),  # was OverflowError: int(inf)
    ({"height": 1e300}, r"height: expected a whole number of pixels in \[1, 8192\]"),  # was OverflowError downstream
    ({"width": -5}, r"width: expected a whole number of pixels"),
    ({"extrinsic": [[1, 2], [3]]}, r"extrinsic: expected a N x 4 x 4 array of numbers"),  # was numpy ValueError
    ({"extrinsic": [[["a"] * 4] * 4]}, r"extrinsic: expected a N x 4 x 4 array of numbers"),
    ({"extrinsic": []}, r"extrinsic: expected a N x 4 x 4 array, got shape \(0,\)"),
    ({"intrinsic": {"K": 1}}, r"intrinsic: expected a 2 x 3 x 3 array of numbers"),  # was TypeError
    ({"intrinsic": [[[30.0, 0, 16], [0, 30.0, 12], [0, 0, 1]]]}, r"intrinsic: expected a 2 x 3 x 3 array, got shape \(1, 3, 3\)"),
    ({"extrinsic": [[[1e308] * 4] * 4] * 2}, r"extrinsic\[0\]: singular|extrinsic\[\d\]: "),
])
def test_official_wrong_types_and_overflow_are_trajectory_errors(tmp_path, edits, message):
    p = _official(tmp_path, **edits)
    with pytest.raises(TrajectoryFileError, match=message) as exc:
        read_trajectory(p, "official")
    assert str(exc.value).startswith(str(p)) and "\n" not in str(exc.value)


def _nerfstudio(tmp_path: Path, top: dict | None = None, frame: dict | None = None) -> Path:
    data = {"fl_x": 30.0, "fl_y": 30.0, "cx": 16.0, "cy": 12.0, "w": 32, "h": 24,
            "frames": [{"file_path": "a.png", "transform_matrix": np.eye(4).tolist(), **(frame or {})}]}
    data.update(top or {})
    p = tmp_path / "transforms.json"
    p.write_text(json.dumps(data).replace('"@1e400@"', "1e400"))
    return p


@pytest.mark.parametrize("top, frame, message", [
    ({"fl_x": [1]}, None, r"frames\[0\]\.fl_x: expected a finite number, got list"),  # was TypeError: float(list)
    ({"w": 1e300}, None, r"frames\[0\]\.w: expected a whole number of pixels"),  # was OverflowError in numpy
    ({"w": "@1e400@"}, None, r"number 1e400 is out of range"),  # was OverflowError: int(inf)
    ({"cx": "12"}, None, r"frames\[0\]\.cx: expected a finite number, got '12'"),  # was accepted as a string
    ({"k1": {"x": 1}}, None, r"frames\[0\]\.k1: expected a finite number"),  # was TypeError
    ({"frames": [7]}, None, r"frames\[0\]: expected a JSON object, got int"),  # was AttributeError
    ({"frames": {}}, None, r"frames: expected a list of 1 to 10000 frames"),
    (None, {"transform_matrix": [[1, 2], [3]]}, r"frames\[0\]\.transform_matrix: expected a 4 x 4 array of numbers"),
    (None, {"transform_matrix": 5}, r"frames\[0\]\.transform_matrix: expected a 4 x 4 array, got shape \(\)"),
    (None, {"transform_matrix": [[0] * 4] * 4}, r"frames\[0\]\.transform_matrix: singular matrix"),
])
def test_nerfstudio_wrong_types_and_overflow_are_trajectory_errors(tmp_path, top, frame, message):
    p = _nerfstudio(tmp_path, top, frame)
    with pytest.raises(TrajectoryFileError, match=message) as exc:
        read_trajectory(p, "nerfstudio")
    assert str(exc.value).startswith(str(p)) and "\n" not in str(exc.value)


def _trajectory_file(tmp_path: Path, **edits) -> Path:
    data = CameraTrajectory(_cams(), name="ok", kind="custom", fps=12.0).to_dict()
    data.update(edits)
    p = tmp_path / "t.json"
    p.write_text(json.dumps(data).replace('"@inf@"', "Infinity"))
    return p


@pytest.mark.parametrize("edits, message", [
    ({"fps": "@inf@"}, r"t.json: Infinity is not a number this project accepts"),  # passed the loader before
    ({"fps": 1e300}, r"t.json: fps: .*greater than the maximum of 240"),
    ({"fps": 0}, r"t.json: fps: .*less than or equal to the minimum of 0"),
    ({"name": "../../victim"}, r"t.json: name: '../../victim' is not a safe name"),
    ({"name": "/abs/path"}, r"t.json: name: '/abs/path' is not a safe name"),
    ({"name": "con"}, r"t.json: name: 'con' is a reserved device name"),
    ({"name": 7}, r"t.json: name: must be a string, got int"),
    ({"width": 100_000}, r"t.json: width: 100000 is greater than the maximum of 8192"),
    ({"height": -4}, r"t.json: height: -4 is less than the minimum of 1"),
    ({"width": 32.0}, r"t.json: width: must be a positive integer, got 32.0"),
    ({"frames": [{"K": np.eye(3).tolist(), "cam_from_world": np.eye(4).tolist()}] * 10_001},
     r"t.json: frames: does not meet 'maxItems': 10000"),
])
def test_trajectory_loader_rejects_bad_fields_naming_them(tmp_path, edits, message):
    p = _trajectory_file(tmp_path, **edits)
    with pytest.raises(TrajectoryFileError, match=message) as exc:
        load_trajectory(p)
    assert str(exc.value).startswith(str(p)) and "\n" not in str(exc.value)


def test_trajectory_from_dict_rejects_non_finite_fps_from_code():
    data = CameraTrajectory(_cams(), name="ok").to_dict()
    for bad in (float("nan"), float("inf")):
        with pytest.raises(TrajectoryFileError, match=r"^mem: fps: "):
            CameraTrajectory.from_dict({**data, "fps": bad}, source="mem")
    with pytest.raises(ValueError, match="finite"):
        CameraTrajectory(_cams(), fps=float("inf"))


def test_generate_refuses_deep_trajectory_in_one_line(tmp_path, monkeypatch):
    """``generate -t deep.json`` died with RecursionError before any model loads; now exit 2, one line."""
    from typer.testing import CliRunner

    from worldstereo.cli import app

    monkeypatch.chdir(tmp_path)
    (tmp_path / "deep.json").write_text(_deep())
    (tmp_path / "img.png").write_bytes(b"")
    res = CliRunner().invoke(app, ["generate", "img.png", "--fov", "60", "-t", "deep.json", "--generator", "warp",
                                   "-o", "run"])
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert res.exit_code == 2 and len(lines) == 1 and "Traceback" not in res.output, res.output
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("content, message", [
    (_deep(), "nested deeper than 64 levels"),
    ("[1, 2]", "K: missing"),
    ('{"K": [[1, 2], [3]]}', "K: cannot read a 3x3 matrix"),
    ('{"K": [[1, 0, 0], [0, 1, 0]]}', "K: must be a 3x3 matrix of finite numbers, got shape (2, 3)"),
    ('{"K": "abc"}', "K: must be a 3x3 matrix of finite numbers"),
])
def test_trajectory_make_intrinsics_file_errors_are_one_line(tmp_path, content, message):
    from typer.testing import CliRunner

    from worldstereo.cli import app

    (tmp_path / "K.json").write_text(content)
    res = CliRunner().invoke(app, ["trajectory", "make", "orbit", "--intrinsics", str(tmp_path / "K.json"),
                                   "-o", str(tmp_path / "t.json"), "--frames", "4"])
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert res.exit_code == 2 and len(lines) == 1 and message in lines[0] and "K.json" in lines[0], res.output


def test_bank_image_names_cannot_leave_the_folder(formats, tmp_path):
    from worldstereo.memory import MemoryBank

    root, fmts = formats
    data = json.loads(fmts["bank"].files["bank/bank.json"])
    (tmp_path / "secret.png").write_bytes(fmts["bank"].files["bank/frame_0000.png"])
    for bad in ("../secret.png", str(tmp_path / "secret.png")):
        data["frames"][0]["image"] = bad
        (root / "bank" / "bank.json").write_text(json.dumps(data))
        try:
            with pytest.raises(JSONInputError, match=r"bank.json: frames\[0\]\.image: .* is not a safe name"):
                MemoryBank.load(root / "bank")
        finally:
            (root / "bank" / "bank.json").write_bytes(fmts["bank"].files["bank/bank.json"])


@pytest.mark.parametrize("stem, expected", [
    ("camera", "camera"), ("my scene (1)", "my_scene_1_"), ("..", "official"), ("con", "official"),
    ("-x", "x"), ("a" * 80, "a" * 64), ("é", "official"),
])
def test_converter_names_from_file_names_are_safe(tmp_path, stem, expected):
    p = _official(tmp_path)
    target = tmp_path / f"{stem}.json"
    p.rename(target)
    assert read_trajectory(target, "official").name == expected


def test_re10k_timestamps_implying_absurd_fps_are_refused(tmp_path):
    p = tmp_path / "cams.txt"
    line = " 0.5 0.8 0.5 0.5 0 0 1 0 0 0 0 1 0 0 0 0 1 0"
    p.write_text("u\n0" + line + "\n1" + line + "\n")
    with pytest.raises(TrajectoryFileError, match=r"cams.txt: timestamps: .* pass the frame rate \(--fps\)"):
        read_trajectory(p, "re10k", width=32, height=24)
    assert read_trajectory(p, "re10k", width=32, height=24, fps=10).fps == 10


@pytest.mark.parametrize("fmt, fname, data, message", [
    ("colmap", "model/cameras.txt", b"1 PINHOLE 32 24 \xff 30 16 12\n", "not UTF-8"),  # was UnicodeDecodeError
    ("colmap", "model/cameras.txt", b"1 PINHOLE -32 24 30 30 16 12\n", r"WIDTH and HEIGHT must be in \[1, 8192\]"),
    ("colmap", "model/cameras.txt", b"1 PINHOLE 32 24 nan 30 16 12\n", "PARAMS must be finite"),
    ("re10k", "cams.txt", b"u\n" + b"0 " * 18 + b"\xfe\n", "not UTF-8"),
    ("re10k", "cams.txt", b"u\n0 0.5 0.8 0.5 0.5 0 0 1 0 0 inf 0 1 0 0 0 0 1 0\n", "non-finite"),
])
def test_text_formats_bad_bytes_and_values(formats, fmt, fname, data, message):
    root, fmts = formats
    try:
        (root / fname).write_bytes(data)
        with pytest.raises(TrajectoryFileError, match=message) as exc:
            fmts[fmt].load(root)
        assert str(exc.value).startswith(str(root / fname))
    finally:
        (root / fname).write_bytes(fmts[fmt].files[fname])


# -- the campaign: count signatures instead of stopping at the first ---------------------------------------------
def campaign(examples: int, names: list[str]) -> dict:
    import tempfile
    import time

    root = Path(tempfile.mkdtemp(prefix="ws-fuzz-"))
    fmts = _make_formats(root)
    report = {}
    for name in names:
        fmt, found, count = fmts[name], Counter(), [0]

        @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=fmt.strategy)
        def run(case):
            count[0] += 1
            signature = _outcome(fmt, root, *case)
            if signature is not None:
                found[signature.split(":")[0]] += 1

        t0 = time.perf_counter()
        run()
        report[name] = {"cases": count[0], "failures": sum(found.values()), "signatures": dict(found),
                        "seconds": round(time.perf_counter() - t0, 1)}
        print(json.dumps({name: report[name]}), flush=True)
    return report


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Fuzz every loader; print per-format case and failure counts.")
    parser.add_argument("--examples", type=int, default=5000)
    parser.add_argument("--formats", nargs="*", default=["trajectory", "official", "nerfstudio", "colmap", "re10k",
                                                          "bank", "cache", "sample"])
    args = parser.parse_args()
    campaign(args.examples, args.formats)
