"""The training loop of one stage: torch.distributed (DDP, or FSDP at full scale), resumable checkpoints,
JSONL/CSV logs with loss, lr, throughput and ETA.

Launch one process (``worldstereo train STAGE ...``) or many (``torchrun --nproc_per_node N -m
worldstereo train STAGE ...``): with ``WORLD_SIZE > 1`` the process group is initialised from torchrun's
environment (gloo on CPU, NCCL on GPU), every rank draws its own batches (``StageSampler`` keyed by
rank) and the wrapped loss modules average gradients.

Stage directory::

    <out>/config.json          the TrainConfig used
    <out>/log.jsonl, log.csv   one record every ``log_every`` steps (rank 0)
    <out>/checkpoints/step-NNNNNN/{model.safetensors, fake.safetensors, optim.pt, state.json}
    <out>/final/               save_pretrained of the trained model (the next stage's --init)
    <out>/done.json            summary: steps, wall time, final losses
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import torch
import torch.distributed as dist
import torch.nn as nn

from ..atomic import atomic_path, atomic_write_json
from ..devices import resolve_device
from ..models import WorldStereoModel
from ..safepath import inside, remove_tree
from .config import STAGES, TrainConfig
from .data import ClipShards, StageSampler
from .stages import prepare_stage

log = logging.getLogger(__name__)

Progress = Callable[[int, int, dict], None]
KEEP_CHECKPOINTS = 2


@dataclass
class StageResult:
    stage: str
    final: Path
    steps: int
    wall_s: float
    last: dict


# -- distributed --------------------------------------------------------------------------------------
def init_distributed(device: torch.device) -> tuple[int, int]:
    """(rank, world_size); initialises the process group under torchrun (WORLD_SIZE > 1)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def _wrap(module: nn.Module, kind: str, device: torch.device) -> nn.Module:
    if not dist.is_initialized() or not any(p.requires_grad for p in module.parameters()):
        return module
    if kind == "fsdp":
        from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

        return FSDP(module, use_orig_params=True, device_id=device if device.type == "cuda" else None)
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(module, device_ids=ids, find_unused_parameters=True)


def parameter_digest(module: nn.Module) -> str:
    """SHA-256 of every parameter's bytes, in name order."""
    import hashlib

    h = hashlib.sha256()
    for name, p in sorted(module.named_parameters()):
        h.update(name.encode())
        h.update(p.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


# -- checkpoints ----------------------------------------------------------------------------------------
def _state(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().contiguous().clone() for k, v in module.state_dict().items()}


def _latest_checkpoint(root: Path) -> Optional[Path]:
    done = sorted(p for p in (root / "checkpoints").glob("step-*") if (p / "state.json").is_file() and p.suffix == "")
    return done[-1] if done else None


def save_checkpoint(root: Path, step: int, model: WorldStereoModel, fake: Optional[nn.Module],
                    optimizers: dict, schedulers: dict, extra: dict) -> Path:
    """Write ``checkpoints/step-NNNNNN`` whole or not at all (a temporary folder renamed at the end)."""
    from safetensors.torch import save_file

    final = root / "checkpoints" / f"step-{step:06d}"
    tmp = final.with_name(final.name + ".tmp")
    remove_tree(tmp, root)
    tmp.mkdir(parents=True)
    save_file(_state(model), str(tmp / "model.safetensors"))
    if fake is not None:
        save_file(_state(fake), str(tmp / "fake.safetensors"))
    torch.save({"optimizers": {k: o.state_dict() for k, o in optimizers.items()},
                "schedulers": {k: s.state_dict() for k, s in schedulers.items()},
                "torch_rng": torch.get_rng_state()}, tmp / "optim.pt")
    (tmp / "state.json").write_text(json.dumps({"step": step, **extra}, indent=1))
    remove_tree(final, root)
    os.replace(inside(tmp, root), final)
    old = sorted(p for p in (root / "checkpoints").glob("step-*") if p.suffix == "")[:-KEEP_CHECKPOINTS]
    for p in old:
        remove_tree(p, root)
    return final


def load_checkpoint(path: Path, model: WorldStereoModel, fake: Optional[nn.Module], optimizers: dict,
                    schedulers: dict) -> dict:
    from safetensors.torch import load_file

    def load(module: nn.Module, file: Path) -> None:
        state = {k: v.clone() for k, v in load_file(str(file)).items()}
        module.load_state_dict(state, strict=True)

    load(model, path / "model.safetensors")
    if fake is not None:
        load(fake, path / "fake.safetensors")
    blob = torch.load(path / "optim.pt", map_location="cpu", weights_only=True)
    for k, o in optimizers.items():
        o.load_state_dict(blob["optimizers"][k])
    for k, s in schedulers.items():
        s.load_state_dict(blob["schedulers"][k])
    torch.set_rng_state(blob["torch_rng"])
    return json.loads((path / "state.json").read_text())


# -- logs -------------------------------------------------------------------------------------------------
class TrainLog:
    """``log.jsonl`` and ``log.csv``; on resume, records after the checkpoint's step are dropped."""

    def __init__(self, root: Path, resume_step: int):
        self.jsonl, self.csv = root / "log.jsonl", root / "log.csv"
        records = []
        if resume_step > 0 and self.jsonl.is_file():
            records = [r for r in map(json.loads, self.jsonl.read_text().splitlines()) if r["step"] <= resume_step]
        self.records: list[dict] = records
        self._flush()

    def add(self, record: dict) -> None:
        self.records.append(record)
        self._flush()

    def _flush(self) -> None:
        with atomic_path(self.jsonl) as tmp:
            Path(tmp).write_text("".join(json.dumps(r) + "\n" for r in self.records))
        keys: list[str] = ["step"] if self.records else []
        for r in self.records:
            keys += [k for k in r if k not in keys]
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=keys)
        w.writeheader()
        w.writerows(self.records)
        with atomic_path(self.csv) as tmp:
            Path(tmp).write_text(buf.getvalue())


# -- the loop ---------------------------------------------------------------------------------------------
def _lr_lambda(warmup: int, total: int) -> Callable[[int], float]:
    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(warmup, 1)
        progress = (step - warmup) / max(total - warmup, 1)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))  # cosine to 10 %

    return f


def _step_seed(seed: int, stage: str, step: int, rank: int) -> int:
    return (seed * 1_000_003 + STAGES.index(stage) * 10_007 + step * 101 + rank) % (2**63)


def load_init(config: TrainConfig, stage: str, init: Optional[str | Path]) -> WorldStereoModel:
    if init is not None:
        return WorldStereoModel.from_pretrained(init)
    if stage != "base":
        raise ValueError(f"stage {stage} starts from the previous stage's model; pass --init <that stage>/final")
    return WorldStereoModel.from_config(config.model)


def train_stage(stage: str, config: TrainConfig, data: str | Path, output: str | Path,
                init: Optional[str | Path] = None, steps: Optional[int] = None, resume: bool = True,
                progress: Optional[Progress] = None) -> StageResult:
    """Train one stage into ``output`` (resuming from its last checkpoint unless ``resume`` is False)."""
    scfg = config.stage(stage)
    total = int(steps if steps is not None else scfg.steps)
    if total < 1:
        raise ValueError(f"stage {stage}: steps must be >= 1, got {total}")
    device = resolve_device(config.device)
    rank, world = init_distributed(device)
    if device.type == "cuda" and dist.is_initialized():
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(device)
    if config.threads and device.type == "cpu":
        torch.set_num_threads(config.threads)
    root = Path(output)
    if rank == 0:
        root.mkdir(parents=True, exist_ok=True)
    _barrier()
    shards = ClipShards(data)

    torch.manual_seed(config.seed)
    model = load_init(config, stage, init).to(device).train()
    if config.gradient_checkpointing:
        model.backbone.transformer.gradient_checkpointing = True
    modules = prepare_stage(model, stage, scfg)
    fake = getattr(modules.get("fake"), "fake", None)
    model.to(device)
    if fake is not None:
        fake.to(device)
    lrs = {"main": scfg.lr, "fake": scfg.fake_lr or scfg.lr}
    optimizers = {k: torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=lrs[k],
                                       weight_decay=scfg.weight_decay) for k, m in modules.items()}
    schedulers = {k: torch.optim.lr_scheduler.LambdaLR(o, _lr_lambda(scfg.warmup, total)) for k, o in optimizers.items()}
    n_trainable = sum(p.numel() for m in modules.values() for p in m.parameters() if p.requires_grad)

    start = 0
    ckpt = _latest_checkpoint(root) if resume else None
    if ckpt is not None:
        state = load_checkpoint(ckpt, model, fake, optimizers, schedulers)
        start = int(state["step"])
        if rank == 0:
            log.info("%s: resuming from %s (step %d of %d)", stage, ckpt, start, total)
    elif rank == 0 and (root / "checkpoints").exists():
        remove_tree(root / "checkpoints", root)
    wrapped = {k: _wrap(m, config.distributed, device) for k, m in modules.items()}
    cfg_model = model.config
    sampler = StageSampler(shards, stage, scfg.num_frames or cfg_model.num_frames, seed=config.seed + 7919 * STAGES.index(stage),
                           pair_stride=cfg_model.ssm.pair_stride, latent_factor=model.codec.spatial_factor,
                           temporal_factor=model.codec.temporal_factor, extra_views=scfg.extra_views,
                           frame_dropout=scfg.frame_dropout, reference_dropout=scfg.reference_dropout,
                           base_fill=config.data.base_fill if cfg_model.x_base == "render" else None)
    if rank == 0:
        atomic_write_json(root / "config.json", {"stage": stage, "steps": total, "world_size": world,
                                                 "trainable_parameters": n_trainable, "train_config": config.to_dict()})
    trainlog = TrainLog(root, start) if rank == 0 else None
    use_amp = device.type == "cuda" and config.mixed_precision in ("bf16", "fp16")
    amp_dtype = torch.bfloat16 if config.mixed_precision == "bf16" else torch.float16

    def autocast():
        return torch.autocast("cuda", dtype=amp_dtype) if use_amp else contextlib.nullcontext()

    def optimise(key: str, losses: dict, name: str) -> None:
        optimizers[key].zero_grad(set_to_none=True)
        losses[name].backward()
        params = [p for p in modules[key].parameters() if p.requires_grad]
        if scfg.grad_clip:
            losses[f"{name}_grad_norm"] = torch.nn.utils.clip_grad_norm_(params, scfg.grad_clip).detach()
        optimizers[key].step()
        schedulers[key].step()

    t0, last, window_t, window_n = time.time(), {}, time.time(), 0
    for step in range(start, total):
        batch = sampler.batch(step, scfg.batch_size, rank).to(device)
        gen = torch.Generator().manual_seed(_step_seed(config.seed, stage, step, rank))
        record: dict = {}
        if "fake" in wrapped:
            for _ in range(scfg.fake_updates):
                with autocast():
                    out = wrapped["fake"](batch, gen)
                optimise("fake", out, "fake_loss")
                record.update({k: float(v.detach()) for k, v in out.items()})
        with autocast():
            out = wrapped["main"](batch, gen)
        optimise("main", out, "loss")
        record.update({k: float(v.detach()) for k, v in out.items()})
        window_n += scfg.batch_size * world
        done = step + 1
        if rank == 0 and (done % config.log_every == 0 or done == total or done == start + 1):
            now = time.time()
            rate = window_n / max(now - window_t, 1e-9)
            record.update({"step": done, "lr": schedulers["main"].get_last_lr()[0], "samples_per_s": rate,
                           "elapsed_s": now - t0, "eta_s": (total - done) * scfg.batch_size * world / max(rate, 1e-9)})
            trainlog.add(record)
            window_t, window_n = now, 0
            last = record
        if rank == 0 and progress is not None:
            progress(done, total, record)
        if done % config.checkpoint_every == 0 or done == total:
            if rank == 0:
                save_checkpoint(root, done, model, fake, optimizers, schedulers, {"stage": stage, "loss": record.get("loss")})
            _barrier()
    wall = time.time() - t0
    if world > 1:  # every rank records a digest of its parameters: DDP keeps them identical
        (root / "ranks").mkdir(exist_ok=True)
        atomic_write_json(root / "ranks" / f"rank-{rank}.json", {"rank": rank, "digest": parameter_digest(model),
                                                                 "last_loss": record.get("loss")})
    final = root / "final"
    if rank == 0:
        model.eval()
        model.config.dmd_generator = model.dmd_backbone is not None
        model.save_pretrained(final)
        atomic_write_json(root / "done.json", {"stage": stage, "steps": total, "wall_s": wall, "world_size": world,
                                               "resumed_from": start, "last": last})
    _barrier()
    return StageResult(stage, final, total, wall, last)
