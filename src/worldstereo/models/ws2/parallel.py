"""Context parallelism for :class:`Ws2Transformer`: its token sequence split across processes.

Uses diffusers' context parallelism: a ``ContextParallelConfig`` (Ulysses: every rank holds 1/N of the
tokens; inside attention an all-to-all gives each rank all tokens for 1/N of the heads), its device mesh, its
attention dispatch (``native`` backend) and its sharder. What differs from ``enable_parallelism``:

* the split and the gather happen inside ``Ws2Transformer.velocity``, not through the module hooks of
  ``WanTransformer3DModel._cp_plan``: the ws2 forward does not call the modules that plan hooks (RoPE tables
  are indexed, the memory blocks run their weights through ``memory_block``), and three sequences are split
  the same way (targets, ControlNet tokens, whose residuals add to the targets position by position, and
  references);
* the joint [references ; targets] attention and the ControlNet's self-attention go through
  ``dispatch_attention_fn`` with the parallel config, as the stock blocks' self-attention does
  (cross-attention to text and image stays local to every rank, as in diffusers);
* the config is set up here (``ParallelConfig.setup`` with a mesh of this process group's device type):
  diffusers' ``_resolve_parallel_config`` computes ``rank % torch.accelerator.device_count()``, a
  ``ZeroDivisionError`` on a CPU-only machine, which rules out its gloo/CPU path.

Every rank runs the whole pipeline on the same inputs (same seed, same conditions); after the gather each
rank holds the full velocity, so the samplers and the VAE need no change.
"""

from __future__ import annotations

import os
from typing import Optional

import torch


def world_size() -> int:
    """Processes of this launch (``WORLD_SIZE`` from ``torchrun``; 1 without it)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def init_distributed(device: Optional[str] = None) -> torch.device:
    """Join the ``torchrun`` process group (NCCL on GPUs, gloo on CPUs) and return this rank's device
    (``cuda:LOCAL_RANK``, or ``cpu``). Idempotent."""
    import torch.distributed as dist

    local = int(os.environ.get("LOCAL_RANK", "0"))
    want = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if str(want).startswith("cuda"):
        if not torch.cuda.is_available() or local >= torch.cuda.device_count():
            raise ValueError(f"rank {rank()} (LOCAL_RANK {local}) has no GPU: this machine has "
                             f"{torch.cuda.device_count()}; lower --nproc-per-node")
        dev = torch.device("cuda", local)
        torch.cuda.set_device(dev)
    elif str(want) == "cpu":
        dev = torch.device("cpu")
    else:
        raise ValueError(f"--device {want!r}: context parallelism runs on cuda (NCCL) or cpu (gloo)")
    if not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    return dev


def check_divisible(transformer, tokens: int, reference_tokens: int = 0, n: Optional[int] = None) -> None:
    """One clear line when the sequences or the heads do not split evenly over ``n`` ranks."""
    n = n or world_size()
    heads = {"transformer": int(transformer.config.num_attention_heads),
             "ControlNet": int(transformer.ws2.controlnet.num_heads)}
    for what, h in heads.items():
        if h % n:
            raise ValueError(f"context parallelism over {n} processes: the {what}'s {h} attention heads do not "
                             f"split evenly; use a process count that divides {h}")
    for what, count in (("target", tokens), ("reference", reference_tokens)):
        if count % n:
            raise ValueError(f"context parallelism over {n} processes: {count} {what} tokens do not split "
                             f"evenly; choose a size or keyframe count whose token count {n} divides")


def enable_context_parallel(transformer, device: torch.device):
    """Set up Ulysses context parallelism over the whole (initialised) process group; returns the config.

    The transformer's own attention processors and the ws2 attention calls get the config; no module hook is
    registered (``Ws2Transformer`` splits and gathers in ``velocity``)."""
    import torch.distributed as dist
    from diffusers import ContextParallelConfig
    from diffusers.models._modeling_parallel import ParallelConfig
    from torch.distributed.device_mesh import init_device_mesh

    if not dist.is_initialized():
        raise RuntimeError("context parallelism needs torch.distributed initialised (launch with torchrun)")
    n = dist.get_world_size()
    cp = ContextParallelConfig(ulysses_degree=n)
    config = ParallelConfig(context_parallel_config=cp)
    mesh = init_device_mesh(device.type, cp.mesh_shape, mesh_dim_names=cp.mesh_dim_names)
    config.setup(dist.get_rank(), n, device, mesh=mesh)
    transformer._parallel_config = config
    for module in transformer.modules():
        processor = getattr(module, "processor", None)
        if processor is not None and hasattr(processor, "_parallel_config"):
            processor._parallel_config = config
        if getattr(module, "ws2_attention", False):
            module.parallel_config = config
    return config


def shard(x: torch.Tensor, config, dim: int = 1) -> torch.Tensor:
    """This rank's contiguous 1/N of ``x`` along ``dim``."""
    from diffusers.hooks.context_parallel import EquipartitionSharder

    return EquipartitionSharder.shard(x, dim, config.context_parallel_config._flattened_mesh)


def gather(x: torch.Tensor, config, dim: int = 1) -> torch.Tensor:
    """All ranks' shards of ``x`` concatenated along ``dim``, on every rank."""
    from diffusers.hooks.context_parallel import EquipartitionSharder

    return EquipartitionSharder.unshard(x, dim, config.context_parallel_config._flattened_mesh)


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, config) -> torch.Tensor:
    """Unmasked attention of ``[B, L, heads, hd]`` tensors (this rank's tokens), keys of all ranks."""
    from diffusers.models.attention_dispatch import dispatch_attention_fn

    return dispatch_attention_fn(q, k, v, backend="native", parallel_config=config)
