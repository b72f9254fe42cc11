"""``report.md`` and ``report.html`` of a run: what went in, what came out, how long it took, what went wrong.

Figures go to ``RUN/report/`` (plan plot, per-trajectory contact sheets and reference pairs, cache
growth). Whatever a partial run lacks is said in the report rather than raised.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from ..atomic import atomic_path, atomic_write_text
from ..camera import check_smoothness
from .markup import Block, to_html, to_markdown
from .rundata import RunContents, TrajectoryContents, load_run

log = logging.getLogger(__name__)

FIGURES = "report"
SHEET_FRAMES = 8
MAX_REFERENCE_PAIRS = 8


def _read_rgb(path: Path) -> np.ndarray:
    import imageio.v3 as iio

    img = iio.imread(path)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, -1)
    return np.ascontiguousarray(img[..., :3]).astype(np.uint8)


def _label(img: np.ndarray, text: str) -> np.ndarray:
    """Text in the top-left corner on a dark band, scaled to the image height."""
    import cv2

    img = img.copy()
    scale = max(img.shape[0] / 240.0, 0.35)
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    cv2.rectangle(img, (0, 0), (tw + 6, th + base + 6), (0, 0, 0), -1)
    cv2.putText(img, text, (3, th + 3), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return img


def _fit_height(img: np.ndarray, height: int) -> np.ndarray:
    import cv2

    if img.shape[0] == height:
        return img
    width = max(1, round(img.shape[1] * height / img.shape[0]))
    return cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA)


def tile(images: Sequence[np.ndarray], columns: int, gap: int = 4) -> np.ndarray:
    """Images of one height in a grid (rows padded with white), ``gap`` white pixels between cells."""
    h = images[0].shape[0]
    w = max(i.shape[1] for i in images)
    rows = -(-len(images) // columns)
    sheet = np.full((rows * h + (rows - 1) * gap, columns * w + (columns - 1) * gap, 3), 255, np.uint8)
    for k, img in enumerate(images):
        r, c = divmod(k, columns)
        sheet[r * (h + gap): r * (h + gap) + h, c * (w + gap): c * (w + gap) + img.shape[1]] = img
    return sheet


def _write_png(path: Path, img: np.ndarray) -> str:
    import imageio.v3 as iio

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        iio.imwrite(tmp, img, extension=".png")
    return f"{FIGURES}/{path.name}"


def contact_sheet(t: TrajectoryContents, out: Path) -> tuple[str, list[int]]:
    """Up to SHEET_FRAMES evenly spaced frames, labelled with their index."""
    picks = np.unique(np.linspace(0, len(t.frames) - 1, min(SHEET_FRAMES, len(t.frames))).round().astype(int))
    images = [_label(_read_rgb(t.frames[i]), f"#{i}") for i in picks]
    return _write_png(out / f"frames_{t.name}.png", tile(images, 4)), picks.tolist()


def reference_pairs(run: RunContents, t: TrajectoryContents, out: Path) -> Optional[str]:
    """Target frame beside its retrieved bank frame, for up to MAX_REFERENCE_PAIRS targets."""
    refs, bank = t.references, {b.index: b for b in run.bank}
    pairs = []
    for target, ref in list(zip(refs["targets"], refs["references"]))[:MAX_REFERENCE_PAIRS]:
        b = bank.get(ref)
        if target >= len(t.frames) or b is None or b.image is None:
            continue
        left = _label(_read_rgb(t.frames[target]), f"target #{target}")
        right = _label(_fit_height(_read_rgb(run.root / b.image), left.shape[0]), f"bank {ref}")
        pairs.append(np.concatenate([left, np.full((left.shape[0], 2, 3), 255, np.uint8), right], 1))
    return _write_png(out / f"references_{t.name}.png", tile(pairs, 2, gap=8)) if pairs else None


def cache_growth_plot(steps: list[dict], out: Path) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [str(s.get("after", "?")) for s in steps]
    points = [int(s.get("points", 0)) for s in steps]
    added = [int(s.get("added", 0)) for s in steps]
    fig, ax = plt.subplots(figsize=(6.5, 3.2))
    ax.bar(names, np.array(points) - np.array(added), color="#9bb7d4", label="before the step")
    ax.bar(names, added, bottom=np.array(points) - np.array(added), color="#1f77b4", label="added")
    for k, s in enumerate(steps):
        if s.get("rejected_frames"):
            ax.annotate(f"{s['rejected_frames']} rejected", (k, points[k]), ha="center", va="bottom", color="#d62728", fontsize=8)
    ax.set_ylabel("cache points")
    ax.set_title("3D cache growth per step")
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    path = out / "cache_growth.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    return f"{FIGURES}/{path.name}"


def collect_warnings(run: RunContents) -> list[str]:
    """Run warnings, per-trajectory warnings, alignment rejects, rough camera steps, unfinished work."""
    out = [str(w) for w in run.record.get("warnings", [])]
    for t in run.trajectories:
        out += [f"{t.name}: {w}" for w in t.entry.get("warnings", [])]
        if t.status != "done":
            out.append(f"{t.name}: status '{t.status}', not finished")
        if t.trajectory is not None and len(t.trajectory) > 2:
            rough = check_smoothness(t.trajectory).rough_steps
            if rough:
                out.append(f"{t.name}: camera steps {list(rough)} are over 3x the median step (not smooth)")
    for s in run.record.get("cache_steps", []):
        if s.get("rejected_frames"):
            ratio = f", inlier ratio {s['inlier_ratio']:.2f}" if s.get("inlier_ratio") is not None else ""
            out.append(f"cache alignment after '{s.get('after')}': {s['rejected_frames']} frame(s) rejected{ratio}")
    return out


def _value(v) -> str:
    if isinstance(v, dict) and "sha256" in v:
        return f"{v.get('path', '?')} (sha256 {v['sha256'][:12]}…)"
    return v if isinstance(v, str) else json.dumps(v)


def build_report(run: RunContents) -> list[Block]:
    """The report's blocks; writes its figures under ``RUN/report/``."""
    rec, out = run.record, run.root / FIGURES
    blocks: list[Block] = [("h1", f"worldstereo run: {run.root.resolve().name}"),
                           ("p", f"Created {rec.get('created', '?')}, run schema {rec.get('schema', '?')}. "
                                 "Open the 3D viewer with `worldstereo view " + str(run.root) + "`.")]
    blocks.append(("h2", "Inputs"))
    if run.input_image is not None:
        blocks.append(("image", "input.png", "input image"))
    blocks.append(("table", ["input", "value"], [[k, _value(v)] for k, v in rec.get("inputs", {}).items()]))
    blocks.append(("table", ["setting", "value"], [[k, _value(v)] for k, v in rec.get("settings", {}).items()]))
    blocks.append(("table", ["library", "version"], [[k, v] for k, v in rec.get("versions", {}).items()]))

    blocks.append(("h2", "Plan"))
    trajs = [t.trajectory for t in run.trajectories if t.trajectory is not None]
    if trajs:
        from ..camera.plot import plot_trajectories

        out.mkdir(parents=True, exist_ok=True)
        plot_trajectories(trajs, out / "plan.png", title="plan: top and side views (black dot: first camera)")
        blocks.append(("image", f"{FIGURES}/plan.png", "top and side views of every trajectory's cameras"))
    blocks.append(("table", ["trajectory", "kind", "frames", "fps", "status"],
                   [[t.name, t.trajectory.kind if t.trajectory else None, len(t.trajectory) if t.trajectory else None,
                     t.trajectory.fps if t.trajectory else None, t.status] for t in run.trajectories]))

    blocks.append(("h2", "Frames"))
    for t in run.trajectories:
        if t.frames:
            path, picks = contact_sheet(t, out)
            blocks.append(("image", path, f"{t.name}: frames {', '.join(map(str, picks))} of {len(t.frames)}"))
        else:
            blocks.append(("p", f"{t.name}: no frames written."))

    blocks.append(("h2", "Retrieved references"))
    for t in run.trajectories:
        if t.references is None:
            blocks.append(("p", f"{t.name}: references.json not written."))
            continue
        path = reference_pairs(run, t, out) if t.frames else None
        if path:
            blocks.append(("image", path, f"{t.name}: target frame (left) and the memory-bank frame retrieved for it (right)"))
        bank = {b.index: b for b in run.bank}
        r = t.references
        rows = [[tg, rf, bank[rf].source if rf in bank else "not in bank", (r.get("scores") or [None] * len(r["targets"]))[k],
                 (r.get("angles") or [None] * len(r["targets"]))[k]] for k, (tg, rf) in enumerate(zip(r["targets"], r["references"]))]
        blocks.append(("table", ["target frame", "bank frame", "bank source", "score", "angle (deg)"], rows))

    blocks.append(("h2", "3D cache growth"))
    steps = rec.get("cache_steps", [])
    if steps:
        blocks.append(("image", cache_growth_plot(steps, out), "points in the 3D cache after each step"))
        blocks.append(("table", ["after", "points", "added", "rejected frames", "inlier ratio", "rmse"],
                       [[s.get("after"), s.get("points"), s.get("added"), s.get("rejected_frames"), s.get("inlier_ratio"),
                         s.get("rmse")] for s in steps]))
    else:
        blocks.append(("p", "No cache steps recorded."))

    blocks.append(("h2", "Timings"))
    rows = [[t.name, t.status, t.entry.get("seconds"), t.entry.get("generator"), t.entry.get("depth_source"),
             t.entry.get("psnr")] for t in run.trajectories]
    total = sum(float(t.entry.get("seconds") or 0.0) for t in run.trajectories)
    rows.append(["total", "", total, "", "", None])
    blocks.append(("table", ["trajectory", "status", "seconds", "generator", "depth source", "PSNR (dB)"], rows))

    blocks.append(("h2", "Reconstruction quality"))
    metrics = (run.reconstruction or {}).get("quality_metrics")
    if metrics:
        blocks.append(("table", ["metric", "value"], [[k, v] for k, v in metrics.items()]))
    else:
        blocks.append(("p", "No reconstruction metrics (reconstruction not run or metadata.json without quality_metrics)."))

    warnings = collect_warnings(run)
    blocks += [("h2", "Warnings"), ("list", warnings) if warnings else ("p", "None.")]
    blocks += [("h2", "Missing"), ("list", run.missing) if run.missing else ("p", "Nothing: the run is complete.")]
    return blocks


def write_report(run_dir: str | os.PathLike) -> Path:
    """Write ``report.md`` and ``report.html`` (same content) into ``run_dir``; return the .md path."""
    run = load_run(run_dir)
    blocks = build_report(run)
    md = run.root / "report.md"
    atomic_write_text(md, to_markdown(blocks))
    atomic_write_text(run.root / "report.html", to_html(blocks, title=f"worldstereo run {run.root.resolve().name}"))
    log.info("wrote %s and report.html", md)
    return md
