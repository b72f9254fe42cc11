"""Seconds per training step (forward + backward, batch B, one thread) at the v2 target size, per stage.

Usage: PYTHONPATH=src python docs/tiny-v2/time_steps.py MODEL_CONFIG BATCH  (e.g. tiny-v2 4)
Prints one JSON line per stage: base (backbone), camera/ggm (camera branch trains), ssm, dmd (one
generator step + fake updates), pose. Uses synthetic tensors, so data loading is not counted.
"""
import json
import sys
import time

import torch

torch.set_num_threads(1)
from worldstereo.models import WorldStereoModel, get_config  # noqa: E402
from worldstereo.training.config import StageConfig  # noqa: E402
from worldstereo.training.data import Batch, PoseBatch, SSMBatch  # noqa: E402
from worldstereo.training.stages import prepare_stage  # noqa: E402


def fake_batch(cfg, b):
    f, h, w = cfg.num_frames, cfg.height, cfg.width
    r = lambda *s: torch.rand(*s)  # noqa: E731
    n_lat = f  # pixel-unshuffle: one latent frame per frame
    tf = list(range(4, n_lat, 4)) or [n_lat - 1]
    p, s = len(tf), cfg.codec.factor
    ssm = SSMBatch(torch.tensor(tf), r(b, 3, p, h, w), r(b, 3, p, h, w), r(b, 3, p, h, w), torch.ones(b, p, dtype=torch.bool))
    q = n_lat - 1
    pose = PoseBatch(r(b, q, 3, h // s, w // s) + 1, r(b, q, 3, h // s, w // s) + 1, r(b, q, 3, h // s, w // s) + 1,
                     torch.ones(b, q, h // s, w // s, dtype=torch.bool))
    return Batch(r(b, 3, f, h, w), r(b, 3, f, h, w), (r(b, 1, f, h, w) > 0.7).float(), r(b, 6, f, h, w), ssm, pose)


def main(name, b, reps=1):
    cfg = get_config(name)
    model = WorldStereoModel(cfg)
    batch = fake_batch(cfg, b)
    for stage in ("base", "camera", "ssm", "dmd", "pose"):
        mods = prepare_stage(model, stage, StageConfig(fake_updates=5 if stage == "dmd" else 1))
        opts = {k: torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=1e-5) for k, m in mods.items()}
        times = []
        for rep in range(reps + 1):
            t0 = time.time()
            gen = torch.Generator().manual_seed(rep)
            for key in (["fake"] * 5 if "fake" in mods else []) + ["main"]:
                out = mods[key](batch, gen)
                loss = out["fake_loss" if key == "fake" else "loss"]
                opts[key].zero_grad()
                loss.backward()
                opts[key].step()
            if rep:
                times.append(time.time() - t0)
        print(json.dumps({"model": name, "stage": stage, "batch": b, "s_per_step": min(times)}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
