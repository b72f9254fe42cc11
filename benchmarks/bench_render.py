"""Point splatting speed: 2 M points into 21 frames at 480x832, ours against a baseline and a peer
run on the same cloud and cameras. Prints one JSON line.

Ours, twice: the compiled CPU kernel that ``render_points`` uses on CPU (numba, ``ours_*``) and
the torch path (``backend="torch"``, the CUDA path and the tested reference, ``ours_torch_*``).
Each first renders all frames once as a warm-up (the kernel is compiled or loaded from numba's
cache before that; the first 21-frame call also faults in fresh output memory, which costs
several ms a frame on this VM: reported as ``*_first_call_cpu_s``); then the kernel counts the
fastest of ``--repeats`` full renders and the slower torch path one. The two are checked to agree
(same holes, colours within float rounding).

Baseline: a straightforward numpy z-buffered splatter (``np.minimum.at`` / ``np.add.at``) doing the
same work (same footprint, weights and depth band), timed on ``--baseline-frames`` frames and
reported per frame; it is checked to agree with ours first. Speed is compared on CPU time (one
thread each: torch, numpy, the kernel, llvmpipe) because this machine is shared: wall time is
reported too. Open3D's OffscreenRenderer was the intended baseline but needs EGL, which fails on
this machine (the JSON records the error).

Peer: pyrender's point rendering with OSMesa (Mesa's llvmpipe software rasteriser), run on the same
cloud and cameras in a child process (``--pyrender-python``, default this interpreter, so pyrender
can live in its own virtualenv; see benchmarks/README.md): square GL points of ``2 * radius_px``
pixels, flat shaded, colour and depth read back per frame, all frames timed after one warm-up
render that uploads the cloud, and the fastest of ``--repeats`` passes over all frames counts
(this machine is shared; the minimum is the least disturbed). Its depth is checked against ours
where both cover a pixel. The ratios ``ratio_ours_faster`` (compiled kernel) and
``ratio_ours_torch_faster`` are pyrender's CPU time over ours. Without pyrender the JSON says
``"pyrender_osmesa": {"available": false, "error": ...}``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# torch and worldstereo are imported in the functions that use them: the pyrender child process
# (``--pyrender-worker``) may run in a virtualenv that has neither.


def room_cloud(n: int, seed: int = 0):
    """n coloured points on the walls, floor and ceiling of a 10 x 4 x 10 m room."""
    from worldstereo.geometry import PointCloud

    rng = np.random.default_rng(seed)
    lo, hi = np.array([-5.0, -2.0, -5.0]), np.array([5.0, 2.0, 5.0])
    xyz = rng.uniform(lo, hi, size=(n, 3))
    face = rng.integers(0, 6, n)
    axis, side = face // 2, face % 2
    xyz[np.arange(n), axis] = np.where(side == 1, hi[axis], lo[axis])
    rgb = 0.5 + 0.5 * np.sin(xyz * [1.3, 2.1, 0.7] + face[:, None])
    return PointCloud(xyz.astype(np.float32), rgb.astype(np.float32))


def orbit_cameras(n: int, width: int, height: int):
    """n cameras turning 90 degrees on a 1 m circle, looking outwards at the walls."""
    from worldstereo.camera import Cameras, intrinsics_from_fov, look_at

    K = intrinsics_from_fov(70, width, height)
    mats = []
    for a in np.radians(np.linspace(0, 90, n)):
        eye = np.array([np.sin(a), 0.3, np.cos(a) - 1])
        mats.append(look_at(eye, eye + [np.sin(a), 0.1, np.cos(a)]))
    return Cameras(K, np.stack(mats), width, height)


def numpy_splat(xyz, rgb, cams, height, width, r, band=0.02):
    """Plain numpy reference splatter: z-buffer pass then weighted front-layer pass, per offset."""
    out = []
    R = math.ceil(r)
    for f in range(len(cams)):
        uv, z = cams[f].project(xyz.astype(np.float64))
        u, v, z = uv[0, :, 0], uv[0, :, 1], z[0]
        keep = (z > 1e-6) & (u > -r) & (u < width + r) & (v > -r) & (v < height + r)
        u, v, z, c = u[keep], v[keep], z[keep], rgb[keep]
        zbuf = np.full(height * width, np.inf)
        acc = np.zeros((height * width, 4))
        offsets = [(dy, dx) for dy in range(-R, R + 1) for dx in range(-R, R + 1)]
        for pass_ in (0, 1):
            for dy, dx in offsets:
                col, row = np.floor(u).astype(np.int64) + dx, np.floor(v).astype(np.int64) + dy
                d2 = (col + 0.5 - u) ** 2 + (row + 0.5 - v) ** 2
                m = (d2 < r * r) & (col >= 0) & (col < width) & (row >= 0) & (row < height)
                pix = row[m] * width + col[m]
                if pass_ == 0:
                    np.minimum.at(zbuf, pix, z[m])
                else:
                    front = z[m] <= zbuf[pix] * (1 + band)
                    w = 1 - d2[m][front] / (r * r)
                    np.add.at(acc, pix[front], np.c_[w, w[:, None] * c[m][front]])
        out.append(acc)
    return out


def open3d_offscreen_works() -> tuple[bool, str]:
    code = "import open3d as o3d; o3d.visualization.rendering.OffscreenRenderer(64, 48); print('OK')"
    try:
        p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return False, "OffscreenRenderer start timed out"
    if "OK" in p.stdout:
        return True, ""
    lines = [ln for ln in (p.stderr + p.stdout).splitlines() if "fail" in ln.lower() or "error" in ln.lower()]
    return False, (lines[-1] if lines else f"exit code {p.returncode}").strip()


def pyrender_worker(inp: str, outp: str) -> None:
    """Child process: render the cloud of ``inp`` (.npz) with pyrender + OSMesa, write depth and timings to ``outp``."""
    os.environ.setdefault("PYOPENGL_PLATFORM", "osmesa")
    import pyrender
    from OpenGL import GL

    d = np.load(inp)
    K, poses = d["K"], d["gl_world_from_cam"]
    width, height, point_size = int(d["width"]), int(d["height"]), float(d["point_size"])
    t0, c0 = time.perf_counter(), time.process_time()
    renderer = pyrender.OffscreenRenderer(width, height, point_size=point_size)
    scene = pyrender.Scene(bg_color=[0.0, 0.0, 0.0, 0.0], ambient_light=[1.0, 1.0, 1.0])
    scene.add(pyrender.Mesh.from_points(d["xyz"], colors=d["rgb"]))
    cam = pyrender.IntrinsicsCamera(K[0, 0, 0], K[0, 1, 1], K[0, 0, 2], K[0, 1, 2], znear=0.05, zfar=100.0)
    node = scene.add(cam, pose=poses[0])
    flags = pyrender.RenderFlags.FLAT
    renderer.render(scene, flags=flags)  # warm-up: context, shaders, vertex buffer upload
    setup_wall, setup_cpu = time.perf_counter() - t0, time.process_time() - c0
    gl = f"{GL.glGetString(GL.GL_RENDERER).decode()} / {GL.glGetString(GL.GL_VERSION).decode()}"
    depth = np.zeros((len(poses), height, width), np.float32)
    lit = np.zeros(len(poses))
    wall = cpu = math.inf
    for _ in range(int(d["repeats"])):  # best of a few passes over all frames, as for ours
        t0, c0 = time.perf_counter(), time.process_time()
        for i, pose in enumerate(poses):
            scene.set_pose(node, pose)
            color, depth[i] = renderer.render(scene, flags=flags)
            lit[i] = color.any(-1).mean()
        wall, cpu = min(wall, time.perf_counter() - t0), min(cpu, time.process_time() - c0)
    renderer.delete()
    np.savez(outp, depth=depth, lit=lit, wall=wall, cpu=cpu, setup_wall=setup_wall, setup_cpu=setup_cpu,
             gl=gl, version=pyrender.__version__)


def run_pyrender(python: str, pc, cams, height: int, width: int, r: float, threads: int, repeats: int) -> dict:
    """Run :func:`pyrender_worker` in ``python``; the depth maps come back as ``"_depth"``."""
    # OpenCV camera (x right, y down, z forward) -> OpenGL camera (y up, looking down -z)
    gl_pose = np.linalg.inv(cams.cam_from_world) @ np.diag([1.0, -1.0, -1.0, 1.0])
    env = {**os.environ, "PYOPENGL_PLATFORM": "osmesa"}
    env.setdefault("LP_NUM_THREADS", str(threads))  # llvmpipe rasteriser threads, like ours
    with tempfile.TemporaryDirectory() as tmp:
        inp, outp = Path(tmp, "in.npz"), Path(tmp, "out.npz")
        np.savez(inp, xyz=np.asarray(pc.xyz, np.float32), rgb=np.asarray(pc.rgb, np.float32),
                 K=cams.K, gl_world_from_cam=gl_pose, width=width, height=height, point_size=2 * r,
                 repeats=repeats)
        try:
            p = subprocess.run([python, str(Path(__file__).resolve()), "--pyrender-worker", str(inp), str(outp)],
                               capture_output=True, text=True, timeout=1800, env=env)
        except (OSError, subprocess.TimeoutExpired) as e:
            return {"available": False, "error": f"{type(e).__name__}: {e}"}
        if p.returncode != 0 or not outp.exists():
            lines = [ln.strip() for ln in (p.stderr + p.stdout).splitlines() if ln.strip()]
            return {"available": False, "error": lines[-1] if lines else f"exit code {p.returncode}"}
        o = np.load(outp)
        return {"available": True, "pyrender": str(o["version"]), "gl": str(o["gl"]),
                "llvmpipe_threads": env["LP_NUM_THREADS"], "point_size_px": 2 * r,
                "setup_wall_s": float(o["setup_wall"]), "setup_cpu_s": float(o["setup_cpu"]),
                "wall_s": float(o["wall"]), "cpu_s": float(o["cpu"]), "lit": float(o["lit"].mean()),
                "_depth": o["depth"]}


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--pyrender-worker":
        pyrender_worker(sys.argv[2], sys.argv[3])
        return
    import torch

    from worldstereo.geometry import default_radius, render_points

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=2_000_000)
    ap.add_argument("--frames", type=int, default=21)
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--width", type=int, default=832)
    ap.add_argument("--baseline-frames", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3,
                    help="timed passes over all frames for the compiled kernel and pyrender; the fastest counts")
    ap.add_argument("--pyrender-python", default=sys.executable,
                    help="interpreter with pyrender + PyOpenGL (OSMesa) for the peer run (default: this one)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    pc = room_cloud(args.points)
    cams = orbit_cameras(args.frames, args.width, args.height)
    r = default_radius(args.height, args.width)

    def timed(backend: str, repeats: int = 1, **kw):
        """(first-call cpu s, wall s, cpu s, output) of full renders: the first call is a warm-up,
        then the fastest of ``repeats`` calls counts."""
        c0 = time.process_time()
        o = render_points(pc, cams, args.height, args.width, backend=backend, **kw)
        first, wall, cpu = time.process_time() - c0, math.inf, math.inf
        for _ in range(repeats):
            del o
            t0, c0 = time.perf_counter(), time.process_time()
            o = render_points(pc, cams, args.height, args.width, backend=backend, **kw)
            wall, cpu = min(wall, time.perf_counter() - t0), min(cpu, time.process_time() - c0)
        return first, wall, cpu, o

    t0 = time.perf_counter()
    render_points(pc, cams[:1], 8, 8, backend="numba")  # compile, or load the cached kernel
    compile_s = time.perf_counter() - t0
    ours_first_cpu, ours_s, ours_cpu, out = timed("numba", args.repeats)
    capped_cpu = timed("numba", args.repeats, max_points_per_pixel=20)[2]
    torch_first_cpu, torch_s, torch_cpu, tout = timed("torch")
    torch_capped_cpu = timed("torch", max_points_per_pixel=20)[2]
    coverage = float(1 - out.mask.mean())
    same_holes_torch = float((out.mask == tout.mask).float().mean())
    both_cov = (out.mask == 0) & (tout.mask == 0)
    fast_torch_rgb_diff = float((out.rgb - tout.rgb).abs()[both_cov].max()) if bool(both_cov.any()) else 0.0
    del tout

    o3d_ok, o3d_why = open3d_offscreen_works()
    nb = min(args.baseline_frames, args.frames)
    t0, c0 = time.perf_counter(), time.process_time()
    base = numpy_splat(pc.xyz, pc.rgb, cams[:nb], args.height, args.width, r)
    base_s_per_frame = (time.perf_counter() - t0) / nb
    base_cpu_per_frame = (time.process_time() - c0) / nb
    # the two splatters must agree before their speeds are compared
    b = np.stack(base)
    hole = b[..., 0] <= 1e-8
    b_rgb = b[..., 1:4] / np.where(hole, 1, b[..., 0])[..., None]
    ours_rgb = out.rgb[:nb].numpy().reshape(nb, -1, 3)
    same_holes = float(np.mean(hole == (out.mask[:nb].numpy().reshape(nb, -1) > 0)))
    # float32 (ours) vs float64 (numpy) can flip a point at the edge of the depth band
    differ = float(np.mean(np.abs(b_rgb[~hole] - ours_rgb[~hole]).max(-1) > 1 / 255))

    pf = args.points * args.frames
    pyr = run_pyrender(args.pyrender_python, pc, cams, args.height, args.width, r, args.threads, args.repeats)
    if pyr["available"]:
        # square GL points vs round splats, nearest point vs blended front layer: depths agree
        # roughly where both cover a pixel
        pd, od = pyr.pop("_depth"), out.depth.numpy()
        both = (pd > 0) & (od > 0)
        rel = np.abs(pd[both] - od[both]) / od[both]
        p_wall, p_cpu = pyr["wall_s"], pyr["cpu_s"]
        pyr = {
            "available": True,
            "seconds": round(p_wall, 3),
            "cpu_s": round(p_cpu, 3),
            "points_frames_per_s": round(pf / p_wall),
            "points_frames_per_cpu_s": round(pf / p_cpu),
            "ratio_ours_faster": round(p_cpu / ours_cpu, 2),  # on CPU time, like the numpy baseline
            "ratio_ours_faster_wall": round(p_wall / ours_s, 2),
            "ratio_ours_torch_faster": round(p_cpu / torch_cpu, 2),
            "ratio_ours_torch_faster_wall": round(p_wall / torch_s, 2),
            "setup_wall_s": round(pyr["setup_wall_s"], 3), "setup_cpu_s": round(pyr["setup_cpu_s"], 3),
            "coverage": round(float((pd > 0).mean()), 4), "lit": round(pyr["lit"], 4),
            "depth_both_covered_share": round(float(both.mean()), 4),
            "depth_median_rel_diff": round(float(np.median(rel)), 5),
            "depth_within_2pct_share": round(float(np.mean(rel < 0.02)), 4),
            **{k: pyr[k] for k in ("pyrender", "gl", "llvmpipe_threads", "point_size_px")},
        }
    pyr_why = ("pyrender + OSMesa runs (see pyrender_osmesa)" if pyr["available"]
               else f"pyrender + OSMesa cannot run: {pyr['error']}")
    print(json.dumps({
        "bench": "render_points",
        "points": args.points, "frames": args.frames, "height": args.height, "width": args.width,
        "radius_px": r, "torch_threads": args.threads, "repeats": args.repeats, "cpu": platform.processor() or platform.machine(),
        "ours": "compiled CPU kernel (numba), render_points' CPU default",
        "ours_compile_or_load_s": round(compile_s, 3),
        "ours_first_call_cpu_s": round(ours_first_cpu, 3),
        "ours_wall_s": round(ours_s, 3),
        "ours_cpu_s": round(ours_cpu, 3),
        "ours_cpu_ms_per_frame": round(1000 * ours_cpu / args.frames, 2),
        "ours_points_frames_per_cpu_s": round(pf / ours_cpu),
        "ours_capped20_cpu_s": round(capped_cpu, 3),
        "ours_torch_first_call_cpu_s": round(torch_first_cpu, 3),
        "ours_torch_wall_s": round(torch_s, 3),
        "ours_torch_cpu_s": round(torch_cpu, 3),
        "ours_torch_points_frames_per_cpu_s": round(pf / torch_cpu),
        "ours_torch_capped20_cpu_s": round(torch_capped_cpu, 3),
        "ratio_ours_vs_torch_cpu": round(torch_cpu / ours_cpu, 2),
        "ratio_ours_vs_torch_capped20_cpu": round(torch_capped_cpu / capped_cpu, 2),
        "ours_vs_torch_same_hole_mask_share": round(same_holes_torch, 6),
        "ours_vs_torch_max_rgb_diff": float(f"{fast_torch_rgb_diff:.3g}"),
        "coverage": round(coverage, 4),
        "baseline": "numpy z-buffer splatter (np.minimum.at / np.add.at), same footprint, weights and depth band, no point cap",
        "baseline_why": "Open3D OffscreenRenderer " + ("starts here but is not wired into this benchmark" if o3d_ok else f"cannot start here: {o3d_why}") + "; " + pyr_why,
        "baseline_frames_timed": nb,
        "baseline_wall_s_per_frame": round(base_s_per_frame, 3),
        "baseline_cpu_s_per_frame": round(base_cpu_per_frame, 3),
        "baseline_points_frames_per_cpu_s": round(args.points / base_cpu_per_frame),
        "speedup_vs_baseline_cpu": round(base_cpu_per_frame * args.frames / ours_cpu, 2),
        "speedup_torch_vs_baseline_cpu": round(base_cpu_per_frame * args.frames / torch_cpu, 2),
        "speedup_vs_baseline_wall": round(base_s_per_frame * args.frames / ours_s, 2),
        "speedup_capped20_vs_baseline_cpu": round(base_cpu_per_frame * args.frames / capped_cpu, 2),
        "same_hole_mask_share": round(same_holes, 5),
        "rgb_differs_over_1_255_share": round(differ, 5),
        "pyrender_osmesa": pyr,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }))


if __name__ == "__main__":
    main()
