"""Bundled sample inputs made by the synthetic engine (``worldstereo/assets/samples/<name>/``).

Each sample folder holds ``image.png`` (8-bit RGB), ``depth.png`` (16-bit, millimetres, 0 =
invalid), ``meta.json`` (how it was made: scene kind and seed, camera, depth units and kind) and,
for perspective samples, ``K.json`` (3x3 intrinsics in pixels of ``image.png``). Panorama samples
are equirectangular (convention of ``worldstereo.camera.panorama``) and their depth is the
distance along each ray, not a z-depth. ``build_sample`` regenerates a sample from its seed.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import imageio.v3 as iio
import numpy as np

from .. import jsonio
from ..atomic import atomic_path, atomic_write_json
from ..camera import Cameras, CameraValidationError
from ..camera.cameras import CAMERAS_SCHEMA

DEPTH_SCALE = 1000.0  # depth.png holds round(metres * DEPTH_SCALE)
SAMPLE_FILES = ("image.png", "depth.png", "meta.json", "K.json")


@dataclass(frozen=True)
class SampleSpec:
    """How a bundled sample is made: scene ``kind``/``seed``, the camera draw, size and projection."""

    kind: str
    seed: int
    camera_seed: int
    width: int
    height: int
    projection: str = "perspective"
    fov_deg: float = 60.0
    description: str = ""


SPECS: dict[str, SampleSpec] = {
    "room": SampleSpec("room", 4, 4, 512, 288, fov_deg=70.0, description="indoor room with furniture-like objects"),
    "object": SampleSpec("object", 1, 0, 512, 288, fov_deg=60.0, description="one object on a floor, for orbits"),
    "panorama": SampleSpec("room", 4, 4, 1024, 512, projection="equirectangular",
                           description="360 degree panorama from the middle of the room sample's scene"),
}


@dataclass(frozen=True)
class Sample:
    """A sample input: image (H, W, 3) float32 in [0, 1], depth (H, W) float32 metres (0 = invalid),
    K (3, 3) in pixels (None for panoramas) and the metadata of ``meta.json``."""

    name: str
    image: np.ndarray
    depth: np.ndarray
    K: np.ndarray | None
    meta: dict


def samples_dir() -> Path:
    """The folder of the bundled samples inside the installed package."""
    return Path(str(resources.files("worldstereo") / "assets" / "samples"))


def _check_name(name: str) -> None:
    if name not in SPECS:
        raise ValueError(f"sample {name!r} does not exist; choose one of {sorted(SPECS)} (see `worldstereo sample list`)")


def list_samples() -> list[dict]:
    """Name, projection, size and description of every bundled sample."""
    return [{"name": n, "projection": s.projection, "width": s.width, "height": s.height, "scene": s.kind,
             "seed": s.seed, "description": s.description} for n, s in SPECS.items()]


def build_sample(name: str) -> Sample:
    """Render a sample from its spec with the synthetic engine (what the bundled files hold)."""
    _check_name(name)
    return render_sample(SPECS[name], name)


def render_sample(spec: SampleSpec, name: str) -> Sample:
    """Render a sample for any spec (the bundled ones, or held-out evaluation scenes)."""
    from .synthetic import make_scene, render, render_panorama

    scene = make_scene(spec.seed, spec.kind)
    cam = scene.sample_camera(np.random.default_rng(spec.camera_seed), spec.width, spec.height, spec.fov_deg)
    meta = {"name": name, "description": spec.description, "projection": spec.projection,
            "width": spec.width, "height": spec.height,
            "scene": {"kind": spec.kind, "seed": spec.seed, "camera_seed": spec.camera_seed,
                      "generator": "worldstereo.data.synthetic.make_scene + render (shading none)"},
            "depth": {"file": "depth.png", "units": "metres", "scale": DEPTH_SCALE, "invalid": 0,
                      "kind": "z" if spec.projection == "perspective" else "distance"}}
    if spec.projection == "perspective":
        out = render(scene, cam)
        meta["camera"] = {"cam_from_world_in_scene": cam.cam_from_world[0].tolist(), "fov_x_deg": spec.fov_deg}
        return Sample(name, out.frames[0], out.depth[0], cam.K[0].copy(), meta)
    # the middle of the region where cameras may stand sees the whole room evenly
    center = scene.eye_region.mean(0)
    if not scene.is_free(center[None], 0.3)[0]:
        raise ValueError(f"sample {name}: the panorama centre {center} is not in free space; change the spec's seed")
    pano = render_panorama(scene, center, spec.height)
    meta["camera"] = {"center_in_scene": center.tolist()}
    return Sample(name, pano.rgb, pano.distance, None, meta)


def write_sample(sample: Sample, out_dir: str | Path) -> list[Path]:
    """Write a sample's files into ``out_dir`` (created if missing); returns the paths written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with atomic_path(out / "image.png") as tmp:
        iio.imwrite(tmp, np.clip(np.round(sample.image * 255), 0, 255).astype(np.uint8))
    written.append(out / "image.png")
    depth = np.clip(np.round(sample.depth * DEPTH_SCALE), 0, 65535).astype(np.uint16)
    with atomic_path(out / "depth.png") as tmp:
        iio.imwrite(tmp, depth)
    written.append(out / "depth.png")
    atomic_write_json(out / "meta.json", sample.meta)
    written.append(out / "meta.json")
    if sample.K is not None:
        H, W = sample.image.shape[:2]
        atomic_write_json(out / "K.json", {"K": np.asarray(sample.K).tolist(), "width": W, "height": H})
        written.append(out / "K.json")
    return written


def read_sample(folder: str | Path, name: str | None = None) -> Sample:
    """Read a sample folder written by :func:`write_sample`.

    ``meta.json`` and ``K.json`` go through ``jsonio`` and are checked field by field: anything
    wrong raises ``jsonio.JSONInputError`` naming the file and the field.
    """
    folder = Path(folder)
    if not (folder / "meta.json").is_file():
        raise FileNotFoundError(f"{folder}: not a sample folder (no meta.json)")
    src = str(folder / "meta.json")
    meta = jsonio.check(jsonio.load(folder / "meta.json", "sample metadata"), _META_SCHEMA, src,
                        "export the sample again (`worldstereo sample export`)")
    image = _read_image(folder / "image.png", src).astype(np.float32) / 255.0
    depth = _read_image(folder / "depth.png", src).astype(np.float32) / float(meta["depth"]["scale"])
    if image.ndim != 3 or image.shape[2] not in (3, 4) or depth.shape != image.shape[:2]:
        raise jsonio.JSONInputError(f"{folder}: image.png {image.shape} and depth.png {depth.shape} are not an RGB image "
                                    "and a depth map of one size; export the sample again")
    K = None
    if (folder / "K.json").is_file():
        k_src = str(folder / "K.json")
        k = jsonio.check(jsonio.load(folder / "K.json", "intrinsics"), _K_SCHEMA, k_src,
                         'write {"K": 3x3 in pixels, "width", "height"}')
        try:
            Cameras(k["K"], np.eye(4), k["width"], k["height"])  # validates K
        except CameraValidationError as exc:
            raise jsonio.JSONInputError(f"{k_src}: {exc}; write K in pixels of image.png") from None
        K = np.asarray(k["K"], dtype=np.float64)
    return Sample(name or meta.get("name", folder.name), image[..., :3], depth, K, meta)


def _read_image(path: Path, src: str) -> np.ndarray:
    try:
        return np.asarray(iio.imread(path))
    except Exception as exc:  # image decoders raise many types for missing or damaged files
        raise jsonio.JSONInputError(f"{path}: cannot read the image {src} belongs to ({type(exc).__name__}); "
                                    "export the sample again") from None


_META_SCHEMA = {
    "type": "object",
    "required": ["depth"],
    "properties": {
        "name": {"type": "string", "maxLength": 256},
        "depth": {"type": "object", "required": ["scale"],
                  "properties": {"scale": {"type": "number", "minimum": 1e-3, "maximum": 1e9}}},
    },
}
_K_SCHEMA = {
    "type": "object",
    "required": ["K", "width", "height"],
    "properties": {"K": CAMERAS_SCHEMA["properties"]["K"]["oneOf"][0],
                   "width": CAMERAS_SCHEMA["properties"]["width"], "height": CAMERAS_SCHEMA["properties"]["height"]},
}


def load_sample(name: str) -> Sample:
    """A bundled sample by name (see :func:`list_samples`)."""
    _check_name(name)
    return read_sample(samples_dir() / name, name)


def export_sample(name: str, out_dir: str | Path) -> list[Path]:
    """Copy a bundled sample's files into ``out_dir``; refuses to overwrite existing files."""
    _check_name(name)
    src, out = samples_dir() / name, Path(out_dir)
    files = [f for f in SAMPLE_FILES if (src / f).is_file()]
    clash = [f for f in files if (out / f).exists()]
    if clash:
        raise FileExistsError(f"{out / clash[0]} already exists; export into an empty folder")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for f in files:
        with atomic_path(out / f) as tmp:
            shutil.copyfile(src / f, tmp)
        written.append(out / f)
    return written
