"""One process of the 2-rank context-parallel check of test_ws2_parallel.py (run by torch.distributed.run).

Every rank loads the tiny ws2 transformers from the fixtures, computes the single-process output, then turns
context parallelism on and computes it again; rank 0 writes what it measured to the JSON file in argv[1]."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from safetensors.torch import load_file

from worldstereo.models.ws2 import load_transformer
from worldstereo.models.ws2.parallel import enable_context_parallel, init_distributed

FIX = Path(__file__).parent / "fixtures" / "ws2"


def main(out_path: str) -> None:
    dev = init_distributed("cpu")
    report = {"world_size": dist.get_world_size(), "backend": dist.get_backend()}
    for variant in ("camera", "memory"):
        model = load_transformer(FIX, variant, base_model=FIX / "base")
        io = load_file(FIX / f"{variant}_io.safetensors")
        kw = dict(render_latent=io["render_latent"], render_mask=io["render_mask"], plucker=io["camera_embedding"])
        kw.update({k: io[k] for k in ("reference_latent", "ref_index", "camera_qt", "camera_qt_ref") if k in io})
        args = (io["hidden_states"], io["timestep"], io["encoder_hidden_states"], io["encoder_hidden_states_image"])
        with torch.no_grad():
            single = model(*args, **kw)
        seen = []
        model.proj_out.register_forward_hook(lambda m, inp, out: seen.append(inp[0].shape[1]))
        enable_context_parallel(model, dev)
        with torch.no_grad():
            split = model(*args, **kw)
        report[variant] = {
            "tokens": int(io["hidden_states"].shape[2] * io["hidden_states"].shape[3] * io["hidden_states"].shape[4]
                          // 4),
            "tokens_per_rank": seen,
            "max_diff_single": float((split - single).abs().max()),
            "max_diff_released": float((split - io["output"]).abs().max()),
            "close": bool(torch.allclose(split, io["output"], atol=1e-5, rtol=1e-5)),
        }
    if dist.get_rank() == 0:
        Path(out_path).write_text(json.dumps(report))
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
