"""A small fake-but-valid run directory (DESIGN §6) for viewer and report tests.

Frames are exact renders of a synthetic room along the paper's default plan, so the cameras,
cache points, bank frames and videos all agree in 3D, without the generation pipeline.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from worldstereo.atomic import atomic_path, atomic_write_json
from worldstereo.camera import Cameras, default_plan, intrinsics_from_fov, save_trajectory
from worldstereo.data.synthetic import make_scene, render
from worldstereo.pipelines.rundir import sha256_file
from worldstereo.pipelines.video import to_uint8, write_frames, write_video

W, H, FRAMES, FPS, EVERY = 128, 80, 13, 8.0, 4
# The bundled "room" sample's view of scene seed 4 (assets/samples/room/meta.json).
SEED = 4


def _input_from_scene() -> np.ndarray:
    from worldstereo.data.samples import samples_dir

    meta = json.loads((samples_dir() / "room" / "meta.json").read_text())
    return np.asarray(meta["camera"]["cam_from_world_in_scene"], dtype=np.float64)


def _camera_json(cams: Cameras, i: int) -> dict:
    """A bank entry's camera exactly as ``MemoryBank.save`` writes it: one camera's ``to_dict``."""
    return cams[i].to_dict()


def _write_ply(path: Path, xyz: np.ndarray, rgb: np.ndarray) -> None:
    from plyfile import PlyData, PlyElement

    v = np.empty(len(xyz), dtype=[("x", "f4"), ("y", "f4"), ("z", "f4"), ("red", "u1"), ("green", "u1"), ("blue", "u1")])
    for k, name in enumerate("xyz"):
        v[name] = xyz[:, k]
    for k, name in enumerate(("red", "green", "blue")):
        v[name] = rgb[:, k]
    PlyData([PlyElement.describe(v, "vertex")]).write(str(path))


def _write_mesh(path: Path, scene, input_from_scene: np.ndarray) -> None:
    """The scene's non-backdrop triangles in the run's frame, each vertex coloured by its texture's mean."""
    from plyfile import PlyData, PlyElement

    keep = ~np.isin(scene.triangle_object, list(scene.background_ids))
    tris = scene.triangles[keep]
    used, inverse = np.unique(tris, return_inverse=True)
    xyz = scene.vertices[used].astype(np.float64) @ input_from_scene[:3, :3].T + input_from_scene[:3, 3]
    colour = np.zeros((len(used), 3))
    colour[inverse.reshape(-1)] = np.repeat(scene.textures.mean((1, 2))[scene.triangle_texture[keep]], 3, axis=0)
    v = np.empty(len(used), dtype=[("x", "f4"), ("y", "f4"), ("z", "f4"), ("red", "u1"), ("green", "u1"), ("blue", "u1")])
    for k, name in enumerate("xyz"):
        v[name] = xyz[:, k]
    for k, name in enumerate(("red", "green", "blue")):
        v[name] = to_uint8(colour[:, k])
    f = np.empty(len(tris), dtype=[("vertex_indices", "i4", (3,))])
    f["vertex_indices"] = inverse.reshape(-1, 3)
    PlyData([PlyElement.describe(v, "vertex"), PlyElement.describe(f, "face")]).write(str(path))


def _png(path: Path, img: np.ndarray) -> None:
    import imageio.v3 as iio

    with atomic_path(path) as tmp:
        iio.imwrite(tmp, to_uint8(img), extension=".png")


def _unproject(out, cams: Cameras, input_from_scene: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hit points of a render, in the run's world (= input camera) frame, with their colours."""
    hit = out.depth > 0
    xyz = out.xyz[hit].astype(np.float64)
    xyz = xyz @ input_from_scene[:3, :3].T + input_from_scene[:3, 3]
    return xyz.astype(np.float32), to_uint8(out.frames[hit])


def write_fake_run(root: Path, partial: bool = False) -> Path:
    """Write a run in ``root``. ``partial``: 'left' pending, 'right' running without videos, no bank images."""
    root.mkdir(parents=True, exist_ok=True)
    scene = make_scene(SEED, "room")
    input_from_scene = _input_from_scene()
    K = intrinsics_from_fov(70.0, W, H)
    inp_cam = Cameras.identity(K, W, H, 1)
    inp = render(scene, inp_cam.transformed(input_from_scene))
    median_depth = float(np.median(inp.depth[inp.depth > 0]))
    _png(root / "input.png", inp.frames[0])

    pts, cols = _unproject(inp, inp_cam, input_from_scene)
    steps = [{"after": "input", "points": int(len(pts)), "added": int(len(pts)), "rejected_frames": 0}]
    bank = [{"image": "frame_0000.png", "source": "input", "index": 0, "camera": _camera_json(inp_cam, 0),
             "depth": None}]
    bank_images = [inp.frames[0]]
    record = {"schema": 1, "created": "2026-11-21T12:00:00+0000",
              "inputs": {"image": "input.png", "sample": "room"},
              "settings": {"generator": "synthetic", "frames": FRAMES, "width": W, "height": H},
              "versions": {"worldstereo": "0.1.0"}, "order": [], "trajectories": {}, "cache_steps": steps,
              "outputs": {}, "warnings": ["trajectory 'up': 2 frames rejected by the alignment (inlier ratio 0.41)"]}
    # Half the median depth keeps the 45° up and 90° side arcs inside this room, so frames show the room.
    plan = default_plan(0.5 * median_depth, K, W, H, FRAMES, FPS)
    for ti, traj in enumerate(plan):
        name = traj.name
        record["order"].append(name)
        if partial and name == "left":
            record["trajectories"][name] = {"status": "pending"}
            continue
        d = root / "trajectories" / name
        d.mkdir(parents=True, exist_ok=True)
        out = render(scene, traj.cameras.transformed(input_from_scene))
        files = [save_trajectory(traj, d / "cameras.json")]
        files += write_frames(d / "frames", out.frames)
        running = partial and name == "right"
        if not running:
            mask = (out.depth <= 0) | (np.arange(W)[None, None, :] > W * (0.9 - 0.1 * np.arange(FRAMES))[:, None, None])
            files.append(write_video(d / "video.mp4", out.frames, fps=FPS))
            files.append(write_video(d / "render.mp4", out.frames * (~mask[..., None]), fps=FPS))
            files.append(write_video(d / "mask.mp4", mask.astype(np.float32), fps=FPS))
        targets = list(range(0, FRAMES, EVERY))
        refs = {"every": EVERY, "targets": targets, "references": [min(t // EVERY, len(bank) - 1) for t in targets],
                "scores": [round(1.0 - 0.05 * k, 3) for k in range(len(targets))], "angles": [5.0 * k for k in range(len(targets))]}
        atomic_write_json(d / "references.json", refs)
        files.append(d / "references.json")
        # The bank grows by every 4th generated frame, as the pipeline does.
        for k in range(0, FRAMES, EVERY):
            bank.append({"image": f"frame_{len(bank):04d}.png", "source": name, "index": k,
                         "camera": _camera_json(traj.cameras, k), "depth": None})
            bank_images.append(out.frames[k])
        new_pts, new_cols = _unproject(render(scene, traj.cameras[::EVERY].transformed(input_from_scene)), traj.cameras, input_from_scene)
        sel = np.random.default_rng(ti).random(len(new_pts)) < 0.5
        pts, cols = np.concatenate([pts, new_pts[sel]]), np.concatenate([cols, new_cols[sel]])
        steps.append({"after": name, "points": int(len(pts)), "added": int(sel.sum()), "rejected_frames": 2 if name == "up" else 0,
                      "inlier_ratio": 0.41 if name == "up" else 0.93, "rmse": 0.012 * (ti + 1)})
        entry = {"status": "running" if running else "done", "seconds": 12.5 + ti, "generator": "synthetic",
                 "depth_source": "synthetic", "psnr": 31.0 - ti,
                 "files": {str(f.relative_to(root)): sha256_file(f) for f in files}}
        if name == "right":
            entry["warnings"] = ["camera step 7 is 3.4x the median step (smoothness)"]
        record["trajectories"][name] = entry
    _write_ply(root / "cache.ply", pts, cols)
    (root / "memory").mkdir(exist_ok=True)
    if not partial:
        for i, img in enumerate(bank_images):
            _png(root / "memory" / f"frame_{i:04d}.png", img)
    atomic_write_json(root / "memory" / "bank.json", {"version": 1, "scene_depth": median_depth, "frames": bank})
    if not partial:
        rec = root / "reconstruction"
        rec.mkdir(exist_ok=True)
        atomic_write_json(rec / "metadata.json", {"quality_metrics": {"completeness": 0.91, "geometric_consistency": 0.84,
                                                                      "texture_quality": 0.77, "multiview_consistency": 0.88}})
        _write_ply(rec / "points.ply", pts[::2], cols[::2])
        _write_mesh(rec / "mesh.ply", scene, input_from_scene)
    atomic_write_json(root / "run.json", record)
    return root


_SESSION_RUNS: dict = {}


def session_runs(tmp_path_factory) -> tuple[Path, Path]:
    """(complete run, partial run), written once per test session and shared by the test modules."""
    if "runs" not in _SESSION_RUNS:
        root = tmp_path_factory.mktemp("runs")
        _SESSION_RUNS["runs"] = (write_fake_run(root / "full"), write_fake_run(root / "partial", partial=True))
    return _SESSION_RUNS["runs"]
