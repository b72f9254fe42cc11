"""DESIGN §4 (with eval split into metrics below pipelines and ``bench`` above), checked: imports flow downward through the packages, geometry imports nothing of ours
but camera, models never imports pipelines, and only reconstruction, eval and data import Open3D.

Every import counts, including the ones inside functions (they are how heavy dependencies are
deferred, not a way around the layering)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "src" / "worldstereo"
# lowest first; a package may import the ones before it (and the top-level helper modules)
# eval holds only metrics (pipelines score runs with them); the benchmark runners, which build pipelines
# and reconstructions, are the package ``bench`` above them
ORDER = ["camera", "geometry", "memory", "data", "models", "eval", "pipelines", "training", "reconstruction", "bench",
         "viewer", "cli"]
OPEN3D_ALLOWED = {"reconstruction", "eval", "data"}
# upward imports that exist today, each with the issue that removes it; the test fails when one
# disappears (so the list cannot go stale) and when a new one appears
KNOWN_UPWARD: dict[tuple[str, str], str] = {}


def _imports(path: Path) -> list[tuple[str, int]]:
    """Absolute module names imported by ``path`` (relative imports resolved), with line numbers."""
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    is_pkg = parts[-1] == "__init__"
    if is_pkg:
        parts = parts[:-1]
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = parts[: len(parts) - node.level + (1 if is_pkg else 0)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.append((mod, node.lineno))
            if node.module is None or mod == "worldstereo":  # `from .. import geometry`
                out += [(f"{mod}.{a.name}", node.lineno) for a in node.names]
        elif isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
    return out


def _package(path: Path) -> str | None:
    rel = path.relative_to(ROOT).parts
    return rel[0] if len(rel) > 1 else None


def _scan():
    upward, open3d, geometry = {}, [], []
    for path in sorted(ROOT.rglob("*.py")):
        src = _package(path)
        for mod, line in _imports(path):
            top = mod.split(".")
            where = f"{path.relative_to(ROOT)}:{line}"
            if top[0] == "open3d" and src not in OPEN3D_ALLOWED:
                open3d.append(where)
            if top[0] != "worldstereo" or len(top) < 2:
                continue
            dst = top[1]
            if src == "geometry" and dst in ORDER and dst not in ("camera", "geometry"):
                geometry.append(f"{where} imports {mod}")
            if src in ORDER and dst in ORDER and ORDER.index(dst) > ORDER.index(src):
                upward.setdefault((str(path.relative_to(ROOT)), dst), []).append(where)
    return upward, open3d, geometry


def test_imports_flow_downward():
    upward, _, _ = _scan()
    new = {k: v for k, v in upward.items() if k not in KNOWN_UPWARD}
    assert not new, f"upward imports (DESIGN §4): {new}"
    gone = set(KNOWN_UPWARD) - set(upward)
    assert not gone, f"remove these from KNOWN_UPWARD, they no longer exist: {gone}"


def test_geometry_imports_only_camera():
    _, _, geometry = _scan()
    assert not geometry, geometry


def test_models_never_import_pipelines():
    upward, _, _ = _scan()
    assert not [k for k in upward if k[0].startswith("models/") and k[1] == "pipelines"]


def test_only_reconstruction_eval_and_data_import_open3d():
    _, open3d, _ = _scan()
    assert not open3d, f"Open3D imported outside {sorted(OPEN3D_ALLOWED)}: {open3d}"


def test_the_scanner_sees_function_level_and_relative_imports(tmp_path, monkeypatch):
    """The rules above are only as good as the scanner: it must see a deferred, relative, upward import."""
    pkg = tmp_path / "worldstereo" / "geometry"
    pkg.mkdir(parents=True)
    (pkg / "bad.py").write_text("def f():\n    from ..pipelines import api\n    import open3d\n")
    monkeypatch.setattr(__import__(__name__), "ROOT", tmp_path / "worldstereo")
    upward, open3d, geometry = _scan()
    assert ("geometry/bad.py", "pipelines") in upward
    assert open3d == ["geometry/bad.py:3"] and geometry == ["geometry/bad.py:2 imports worldstereo.pipelines"]
