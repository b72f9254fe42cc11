"""``report.md`` and PNG plots of a bench's ``results.json``, with tables laid out like the paper's."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Sequence

from ..atomic import atomic_path

CAMERA_UNITS = "RotErr / TransErr: CamI2V convention (sum over frames, radians, each trajectory scaled by its max ‖t‖); ATE: Sim(3)-aligned RMSE of camera centres."


def _f(x: Any, digits: int = 3) -> str:
    if x is None:
        return "n/a"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(_f(c) if not isinstance(c, str) else c for c in r) + " |" for r in rows]
    return out


def _head(results: dict, title: str) -> list[str]:
    s = results["settings"]
    suite = s["suite"]
    v = results["versions"]
    gens = ", ".join(g["name"] for g in s["generators"])
    return [f"# {title}", "",
            f"Suite `{suite['size']}`: scenes {', '.join(suite['scenes'])}; long side {suite['side']} px; "
            f"{suite['frames']} frames per trajectory; generators {gens}; cameras by `{s['poses']}` (K known); "
            f"seed {s['seed']}.", "",
            "Versions: " + ", ".join(f"{k} {val}" for k, val in v.items() if val), ""]


def camera_report(results: dict) -> str:
    lines = _head(results, "Camera control and visual quality (paper §4.2, Table 6 layout)")
    rows = []
    for key, u in results["units"].items():
        scene, gen = key.split("/")
        for name, r in u["trajectories"].items():
            rows.append([f"{gen} · {scene} · {name}", r["psnr"], r["ssim"], r["rot_err"], r["trans_err"], r["ate"],
                         r["registered_share"]])
    lines += ["## Per trajectory", ""] + _table(["method · scene · trajectory", "PSNR", "SSIM", "RotErr", "TransErr", "ATE",
                                                 "registered"], rows)
    agg = [[g, a["psnr"], a["ssim"], a["rot_err"], a["trans_err"], a["ate"]] for g, a in results["aggregate"].items()]
    lines += ["", "## Mean per generator", ""] + _table(["method", "PSNR", "SSIM", "RotErr", "TransErr", "ATE"], agg)
    lines += ["", CAMERA_UNITS, "", "![camera](camera.png)", ""]
    return "\n".join(lines)


def recon_report(results: dict) -> str:
    lines = _head(results, "Single-view reconstruction (paper §4.3, Table 3 layout)")
    suite = results["settings"]["suite"]
    rows = [[k, a["f1"], a["auc"], a["psnr"], a["rot_err"], a["trans_err"], a["ate"]] for k, a in results["aggregate"].items()]
    lines += ["## Mean over scenes", ""] + _table(["method / memory", "F1-Score", "AUC", "PSNR", "RotErr", "TransErr", "ATE"], rows)
    per = [[k, u["f1"], u["precision"], u["recall"], u["auc"], u["points"], u["registered_share"]]
           for k, u in results["units"].items()]
    lines += ["", "## Per scene", ""] + _table(["scene / method / memory", "F1", "precision", "recall", "AUC", "points",
                                                "registered"], per)
    lines += ["", f"tau = {suite['tau_ratio']:.0%} and tau_max = {suite['tau_max_ratio']:.0%} of the ground-truth "
              "bounding-box diagonal; both clouds voxel-downsampled at tau / 2; reconstruction by MVS, aligned by the "
              "first camera then ICP with scale. Memory: none = input view only, ggm = 3D cache, full = GGM + SSM.",
              CAMERA_UNITS + " Cameras estimated jointly over all frames of the plan.", "", "![F-score](fscore.png)", ""]
    return "\n".join(lines)


def memory_report(results: dict) -> str:
    lines = _head(results, "Memory ablation on revisited views (paper Table 5) and trajectory order (paper Table 7)")
    agg = results["aggregate"]
    rows = []
    for key, a in agg["ablation"].items():
        gen, row = key.split("/")
        if not a.get("available", True):
            rows.append([f"{gen}-{row}"] + ["n/a"] * 7)
            continue
        rows.append([f"{gen}-{row}", a["psnr"], a["ssim"], a["rot_err"], a["trans_err"], a["ate"],
                     a["consistency_reprojection_error_px"], a["consistency_photometric_psnr"]])
    lines += ["## Memory ablation (revisited views)", ""]
    lines += _table(["method", "PSNR", "SSIM", "RotErr", "TransErr", "ATE", "reproj. err (px)", "cross-traj. PSNR"], rows)
    n = {k: u["n_revisited"] for k, u in results["units"].items()
         if k.startswith("ablation/") and u.get("n_revisited") is not None}
    lines += ["", f"Rows: baseline = no memory, ggm = 3D cache, full = GGM + SSM, dmd = full with the 4-step distilled "
              f"sampler (n/a for generators without one). Revisited frames scored: {max(n.values(), default=0)} per scene; "
              "PSNR/SSIM against the true frames; camera metrics over the revisiting trajectories; reprojection error and "
              "PSNR between each revisited frame and the earlier frame it revisits (through their depth).", CAMERA_UNITS, ""]
    orows = []
    for key, a in agg["order"].items():
        gen, order = key.split("/")
        label = "input only" if order == "input-only" else order.replace(",", "→")
        orows.append([f"{gen}: {label}", a.get("orbit"), a.get("up"), a.get("right"), a.get("left"), a["all"],
                      _pct(a["reference_share_initial"]), _pct(a["reference_share_generated"]), a.get("psnr"),
                      a.get("consistency_reprojection_error_px")])
    lines += ["## Trajectory order (overlapping-FoV scores)", ""]
    lines += _table(["order", "orbit", "up", "right", "left", "all", "ref. input", "ref. gen.", "PSNR", "reproj. err (px)"], orows)
    lines += ["", "Overlapping-FoV score: per trajectory, the sum over its sampled targets (every 4th) of the best "
              "retrieved reference's frustum-overlap score; higher = more relevant references. 'input only' scores "
              "each trajectory against the initial memory bank.", "", "![memory](memory.png)", ""]
    return "\n".join(lines)


def _pct(x: Optional[float]) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


REPORTS = {"camera": camera_report, "recon": recon_report, "memory": memory_report}


def write_report(results: dict, out: Path) -> list[Path]:
    """``report.md`` and the bench's plot(s) in ``out``."""
    out = Path(out)
    with atomic_path(out / "report.md") as tmp:
        Path(tmp).write_text(REPORTS[results["bench"]](results))
    return [out / "report.md", *_plots(results, out)]


def _plots(results: dict, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bench = results["bench"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    if bench == "recon":
        name = "fscore.png"
        for key, u in results["units"].items():
            axes[0].plot(u["curve"]["tau"], u["curve"]["f"], label=key)
        axes[0].set(xlabel="tau (scene units)", ylabel="F-score", title="F-score vs threshold")
        axes[0].legend(fontsize=7)
        keys = list(results["aggregate"])
        axes[1].bar(range(len(keys)), [results["aggregate"][k]["f1"] or 0 for k in keys])
        axes[1].set_xticks(range(len(keys)), keys, rotation=30, fontsize=7)
        axes[1].set(ylabel="F1", title="F1 per generator / memory")
    elif bench == "camera":
        name = "camera.png"
        labels, ps, rs = [], [], []
        for key, u in results["units"].items():
            for t, r in u["trajectories"].items():
                labels.append(f"{key}\n{t}")
                ps.append(r["psnr"] or 0)
                rs.append(r["rot_err"] if r["rot_err"] is not None else 0)
        axes[0].bar(range(len(ps)), ps)
        axes[0].set_xticks(range(len(ps)), labels, rotation=30, fontsize=6)
        axes[0].set(ylabel="PSNR (dB)", title="PSNR vs ground truth")
        axes[1].bar(range(len(rs)), rs)
        axes[1].set_xticks(range(len(rs)), labels, rotation=30, fontsize=6)
        axes[1].set(ylabel="RotErr (rad, sum)", title="RotErr (0 where unregistered)")
    else:
        name = "memory.png"
        abl = {k: a for k, a in results["aggregate"]["ablation"].items() if a.get("available", True)}
        axes[0].bar(range(len(abl)), [a["psnr"] or 0 for a in abl.values()])
        axes[0].set_xticks(range(len(abl)), list(abl), rotation=30, fontsize=7)
        axes[0].set(ylabel="PSNR on revisited views (dB)", title="Memory ablation")
        orders = results["aggregate"]["order"]
        axes[1].bar(range(len(orders)), [a["all"] or 0 for a in orders.values()])
        axes[1].set_xticks(range(len(orders)), [k.split("/")[1].replace(",", "→") for k in orders], rotation=30, fontsize=6)
        axes[1].set(ylabel="overlapping-FoV score (all)", title="Trajectory order")
    fig.tight_layout()
    with atomic_path(out / name) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    return [out / name]


__all__ = ["write_report"]
