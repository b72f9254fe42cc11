"""Summarise a `worldstereo train all` run folder: per stage, steps, wall time and the mean logged loss
over the first and last 10 % of the records (one record = one step's loss every log_every steps).

    python tools/train_summary.py out/train-tiny-cpu
"""

import json
import sys
from pathlib import Path

import numpy as np


def main(root: str) -> None:
    out = {}
    for stage in ("base", "camera", "ggm", "ssm", "dmd", "pose"):
        d = Path(root) / stage
        if not (d / "log.jsonl").is_file():
            continue
        recs = [json.loads(line) for line in (d / "log.jsonl").read_text().splitlines()]
        k = max(1, len(recs) // 10)
        row = {"steps": recs[-1]["step"], "records": len(recs)}
        if (d / "done.json").is_file():
            row["wall_s"] = round(json.loads((d / "done.json").read_text())["wall_s"], 1)
        for key in ("loss", "fake_loss", "l_rec", "l_gen"):
            vals = [r[key] for r in recs if key in r]
            if vals:
                row[f"{key}_first10%"] = round(float(np.mean(vals[:k])), 4)
                row[f"{key}_last10%"] = round(float(np.mean(vals[-k:])), 4)
        row["samples_per_s"] = round(float(np.median([r["samples_per_s"] for r in recs[1:]] or [0])), 2)
        out[stage] = row
    summary = Path(root) / "summary.json"
    if summary.is_file():
        s = json.loads(summary.read_text())
        out["total_s"] = round(s["total_s"], 1)
        out["data_s"] = round(s["data_s"], 1)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "out/train-tiny-cpu")
