"""Classical SfM (pycolmap, SIFT) on rendered views: the images must be realistic enough to match."""

from __future__ import annotations

import imageio.v3 as iio
import numpy as np
import pycolmap

from worldstereo.camera import Cameras, intrinsics_from_fov, look_at
from worldstereo.data.synthetic import make_scene, render

W, H = 480, 360


def umeyama_sim3(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Scale s, rotation R, translation t minimising ||dst - (s R src + t)|| (Umeyama 1991)."""
    mu_s, mu_d = src.mean(0), dst.mean(0)
    xs, xd = src - mu_s, dst - mu_d
    U, S, Vt = np.linalg.svd(xd.T @ xs / len(src))
    D = np.diag([1.0, 1.0, np.sign(np.linalg.det(U @ Vt))])
    R = U @ D @ Vt
    s = np.trace(np.diag(S) @ D) / xs.var(0).sum()
    return s, R, mu_d - s * R @ mu_s


def twelve_views() -> tuple[object, Cameras]:
    """12 cameras on a horizontal arc in a room, all looking at one point near the room centre."""
    scene = make_scene(4, "room")
    target = np.array([0.0, -0.6, 0.0])
    angles = np.radians(np.linspace(-40, 40, 12))
    radius = 2.4
    eyes = np.stack([radius * np.sin(angles), np.full(12, -1.6), -radius * np.cos(angles)], 1)
    assert scene.is_free(eyes, 0.2).all()
    K = intrinsics_from_fov(70.0, W, H)
    cams = Cameras(K, np.stack([look_at(e, target) for e in eyes]), W, H)
    # every view must see the room, not the top of a nearby object
    assert min(scene.median_depth(cams[i]) for i in range(12)) > 1.5
    return scene, cams


def test_pycolmap_registers_all_views_and_recovers_centres(tmp_path):
    scene, cams = twelve_views()
    frames = render(scene, cams).frames
    images = tmp_path / "images"
    images.mkdir()
    for i, f in enumerate(frames):
        iio.imwrite(images / f"{i:02d}.png", (f * 255).round().astype(np.uint8))
    db = tmp_path / "db.db"
    K = cams.K[0]
    reader = pycolmap.ImageReaderOptions()
    reader.camera_model = "PINHOLE"
    reader.camera_params = ",".join(str(v) for v in (K[0, 0], K[1, 1], K[0, 2], K[1, 2]))
    pycolmap.extract_features(db, images, camera_mode=pycolmap.CameraMode.SINGLE, reader_options=reader,
                              device=pycolmap.Device.cpu)
    pycolmap.match_exhaustive(db, device=pycolmap.Device.cpu)
    opts = pycolmap.IncrementalPipelineOptions()
    opts.ba_refine_focal_length = False
    opts.ba_refine_principal_point = False
    opts.ba_refine_extra_params = False
    opts.random_seed = 0
    recs = pycolmap.incremental_mapping(db, images, tmp_path / "sparse", options=opts)
    assert recs, "pycolmap built no model"
    rec = max(recs.values(), key=lambda r: r.num_reg_images())
    assert rec.num_reg_images() == 12
    est = {img.name: img.projection_center() for img in rec.images.values()}
    names = sorted(est)
    src = np.stack([est[n] for n in names])
    dst = cams.centers[[int(n[:2]) for n in names]]
    s, R, t = umeyama_sim3(src, dst)
    err = np.linalg.norm(s * src @ R.T + t - dst, axis=1)
    assert err.max() < 0.01 * scene.size, (err.max(), scene.size)
