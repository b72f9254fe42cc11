"""ws2 samplers on a tiny pipeline (tiny Wan VAE and CLIP, prompt embeddings given) against the released
pipelines' final latents: DMD (4 steps, shift 5) and UniPC (3 steps, integer timesteps, guidance 5)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from diffusers import AutoencoderKLWan, UniPCMultistepScheduler
from safetensors.torch import load_file
from transformers import CLIPImageProcessor, CLIPVisionModel

from worldstereo.models.ws2 import load_transformer
from worldstereo.models.ws2.pipeline import Ws2Inputs, Ws2Pipeline
from worldstereo.models.ws2.sampling import dmd_timesteps

FIX = Path(__file__).parent / "fixtures" / "ws2"
BASE = FIX / "base"


def _pipeline(variant: str) -> Ws2Pipeline:
    tf = load_transformer(FIX, variant, base_model=BASE)
    vae = AutoencoderKLWan.from_pretrained(BASE / "vae").eval()
    clip = CLIPVisionModel.from_pretrained(BASE / "image_encoder").eval()
    proc = CLIPImageProcessor.from_pretrained(BASE / "image_processor", do_rescale=False)
    sched = UniPCMultistepScheduler.from_pretrained(BASE / "scheduler")
    return Ws2Pipeline(tf, vae, clip, proc, sched)


def _inputs(io: dict) -> Ws2Inputs:
    return Ws2Inputs(image_u8=io["image_u8"].numpy(), render_video=io["render_video"],
                     render_mask=io["render_mask"], plucker=io["camera_embedding"],
                     prompt_embeds=io["prompt_embeds"], negative_prompt_embeds=io["negative_prompt_embeds"],
                     reference_video=io["reference_video"], ref_index=io["ref_index"], camera_qt=io["camera_qt"],
                     camera_qt_ref=io["camera_qt_ref"])


@pytest.fixture(scope="module")
def io():
    return load_file(FIX / "pipeline_io.safetensors")


def test_dmd_grid_matches_the_released_values():
    torch.testing.assert_close(dmd_timesteps(250, 1000, 4, 5.0), torch.tensor([1000.0, 937.5, 833.3333, 625.0]))
    torch.testing.assert_close(dmd_timesteps(250, 1000, 4, 1.0), torch.tensor([1000.0, 750.0, 500.0, 250.0]))


def test_dmd_sampler_matches_released_latents(io):
    out = _pipeline("memory-dmd").sample(_inputs(io), io["latents"].clone())
    torch.testing.assert_close(out, io["dmd_latents"], atol=1e-5, rtol=1e-5)


def test_unipc_sampler_matches_released_latents(io):
    pipe = _pipeline("memory")
    out = pipe.sample(_inputs(io), io["latents"].clone(), steps=3, guidance=5.0)
    assert pipe.scheduler.timesteps.dtype == torch.int64
    assert pipe.scheduler.timesteps.tolist() == io["unipc_timesteps"].tolist() == [999, 856, 599]
    assert abs(float(pipe.scheduler.sigmas[0]) - 0.99967) < 1e-5
    torch.testing.assert_close(out, io["unipc_latents"], atol=1e-5, rtol=1e-5)


def test_convention_clip_sees_0_255_pixels(io):
    """The released processor does not rescale: with rescaling the CLIP input (and so the result) differs."""
    pipe = _pipeline("memory-dmd")
    out = pipe.sample(_inputs(io), io["latents"].clone())
    pipe.image_processor = CLIPImageProcessor.from_pretrained(BASE / "image_processor", do_rescale=True)
    rescaled = pipe.sample(_inputs(io), io["latents"].clone())
    assert (rescaled - out).abs().max() > 1e-4


def test_unipc_40_step_grid_is_the_released_one():
    """Released (diffusers 0.36) 40-step grid at shift 3: 999, 991, 982, 973, 963, 954 ... 195, 136, 71."""
    from worldstereo.models.ws2.sampling import released_flow_sigmas

    sched = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0)
    sched.set_timesteps(sigmas=released_flow_sigmas(40))
    ts = sched.timesteps.tolist()
    assert ts[:6] == [999, 991, 982, 973, 963, 954] and ts[-3:] == [195, 136, 71] and len(ts) == 40
