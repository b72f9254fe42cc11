"""``worldstereo doctor``: what this environment has, and what each feature still needs.

Heavy or fragile libraries (Open3D, USD) are probed in a subprocess, so a broken shared library is
reported instead of crashing the doctor, and this module imports no Open3D itself (DESIGN §4).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import asdict, dataclass
from importlib import metadata, resources
from pathlib import Path
from typing import Callable, Optional

log = logging.getLogger(__name__)

TINY_WEIGHTS = "assets/models/worldstereo-tiny"


@dataclass
class Check:
    """One probe: ``ok`` and a one-line ``detail`` (a version, a path, or why it failed); ``fix`` says how to get it."""

    name: str
    ok: bool
    detail: str
    fix: str = ""


# feature -> the checks it needs
FEATURES: dict[str, tuple[str, ...]] = {
    "tiny generation (demo, tests)": ("torch", "diffusers", "tiny weights"),
    "full-scale generation (--model-dir)": ("torch", "diffusers", "transformers", "cuda"),
    "video files (mp4)": ("ffmpeg",),
    "viewer and report": ("plyfile", "matplotlib"),
    "viewer browser test": ("chromium",),
    "reconstruction": ("open3d", "trimesh"),
    "export FBX": ("assimp",),
    "export USD": ("usd",),
}


def _version(dist: str) -> Optional[str]:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _package(name: str, *dists: str, extra: str = "") -> Check:
    for dist in dists:
        if (v := _version(dist)) is not None:
            return Check(name, True, f"{dist} {v}")
    return Check(name, False, "not installed", f"pip install {extra or dists[0]}")


def _probe_import(name: str, statement: str, dist: str, fix: str) -> Check:
    """Import in a fresh interpreter: catches missing shared libraries as well as missing packages."""
    proc = subprocess.run([sys.executable, "-c", statement], capture_output=True, text=True, timeout=120)
    if proc.returncode == 0:
        return Check(name, True, f"{dist} {_version(dist) or '?'}")
    last = (proc.stderr.strip().splitlines() or ["import failed"])[-1]
    return Check(name, False, last[:160], fix)


def _torch() -> list[Check]:
    try:
        import torch
    except ImportError as exc:
        return [Check("torch", False, str(exc), "pip install torch"),
                Check("cuda", False, "torch missing", "pip install a CUDA build of torch")]
    cuda = torch.cuda.is_available()
    detail = f"{torch.cuda.get_device_name(0)} (CUDA {torch.version.cuda})" if cuda else "not available: CPU only"
    return [Check("torch", True, f"torch {torch.__version__}"),
            Check("cuda", cuda, detail, "" if cuda else "full scale needs an NVIDIA GPU and a CUDA build of torch")]


def _ffmpeg() -> Check:
    try:
        import imageio_ffmpeg

        return Check("ffmpeg", True, imageio_ffmpeg.get_ffmpeg_exe())
    except (ImportError, RuntimeError) as exc:
        return Check("ffmpeg", False, str(exc).splitlines()[0], "pip install imageio-ffmpeg")


def _assimp() -> Check:
    """cmeel-assimp ships an ``assimp`` binary under site-packages/cmeel.prefix (its libraries beside it)."""
    prefix = Path(sysconfig.get_paths()["purelib"]) / "cmeel.prefix"
    exe = prefix / "bin" / "assimp"
    if not exe.is_file():
        exe = Path(shutil.which("assimp") or "")
        if not exe.is_file():
            return Check("assimp", False, "no assimp binary", "pip install cmeel-assimp")
    env = {**os.environ, "LD_LIBRARY_PATH": os.pathsep.join(filter(None, [str(prefix / "lib"), os.environ.get("LD_LIBRARY_PATH")]))}
    try:
        proc = subprocess.run([str(exe), "listexport"], capture_output=True, text=True, timeout=60, env=env)
    except OSError as exc:
        return Check("assimp", False, f"{exe}: {exc.strerror}", "pip install --force-reinstall cmeel-assimp")
    formats = proc.stdout.split()
    if proc.returncode != 0 or "fbx" not in formats:
        why = (proc.stderr.strip().splitlines() or ["no FBX exporter"])[-1]
        return Check("assimp", False, f"{exe}: {why[:120]}", "pip install --force-reinstall cmeel-assimp")
    return Check("assimp", True, f"{exe} (FBX export; cmeel-assimp {_version('cmeel-assimp') or '?'})")


def _chromium() -> Check:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        return Check("chromium", False, "not on PATH", "apt-get install -y chromium")
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Check("chromium", False, f"{exe}: {exc}", "apt-get install -y chromium")
    version = re.search(r"[\d.]+\d", out)
    return Check("chromium", True, f"{exe} {version.group(0) if version else ''}".strip())


def _tiny_weights() -> Check:
    folder = resources.files("worldstereo").joinpath(TINY_WEIGHTS)
    files = sorted(p.name for p in folder.iterdir() if p.name.endswith(".safetensors")) if folder.is_dir() else []
    if not files:
        return Check("tiny weights", False, f"src/worldstereo/{TINY_WEIGHTS}/ has no .safetensors",
                     "the tiny model is trained by the project (see the training docs); not downloadable")
    return Check("tiny weights", True, f"{TINY_WEIGHTS}/: {', '.join(files)}")


def run_checks() -> list[Check]:
    """Every probe, in display order."""
    checks: list[Callable[[], Check | list[Check]]] = [
        lambda: Check("python", True, f"{sys.version.split()[0]} ({sys.executable})"),
        _torch,
        lambda: _package("diffusers", "diffusers"),
        lambda: _package("transformers", "transformers"),
        _tiny_weights,
        _ffmpeg,
        lambda: _package("plyfile", "plyfile"),
        lambda: _package("matplotlib", "matplotlib"),
        _chromium,
        lambda: _probe_import("open3d", "import open3d", "open3d-cpu" if _version("open3d-cpu") else "open3d",
                              "pip install open3d-cpu==0.19.* (Debian may also need libgomp1 / libusb-1.0-0)"),
        lambda: _package("trimesh", "trimesh"),
        _assimp,
        lambda: _probe_import("usd", "from pxr import Usd", "usd-core", "pip install usd-core"),
    ]
    out: list[Check] = []
    for fn in checks:
        result = fn()
        out += result if isinstance(result, list) else [result]
    return out


def diagnose() -> dict:
    """``{"checks": [Check as dict], "features": {feature: {"ready": bool, "missing": [check names]}}}``."""
    checks = run_checks()
    ok = {c.name: c.ok for c in checks}
    features = {f: {"ready": all(ok.get(n, False) for n in needs), "missing": [n for n in needs if not ok.get(n, False)]}
                for f, needs in FEATURES.items()}
    return {"checks": [asdict(c) for c in checks], "features": features}
