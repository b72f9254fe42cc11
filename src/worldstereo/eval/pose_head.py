"""The ``pose-head`` camera backend: a learned model's JOG3R head in video-to-camera mode (V2C).

The video is encoded to latents, noised to the head's small diffusion time, passed once through the
backbone, and the head's pairwise pointmaps are registered into cameras (``WorldStereoModel.
estimate_cameras``) with the intrinsics held at the known K. The model comes in as an option
(``model=``: a ``WorldStereoModel`` or a ``tiny``/``wan`` generator backend holding one), so this
module imports ``models`` only when the backend runs.

The head gives one camera per latent frame; latent frame k stands for video frame k x T (T the
codec's temporal factor, 1 at the tiny scale), and only those frames are marked registered.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from ..camera import Cameras, scale_intrinsics
from .poses import CameraEstimate, register_backend


def _pose_head(frames: np.ndarray, K: np.ndarray, model: Any = None, seed: int = 0,
               device: Optional[str] = None) -> CameraEstimate:
    import cv2
    import torch

    from ..models import Conditioning

    if model is None:
        raise ValueError("pose-head backend: pass model= (a WorldStereoModel or a tiny/wan generator)")
    text = getattr(model, "text_embeds", None)
    negative = getattr(model, "negative_text_embeds", None)
    image_encoder = getattr(model, "image_encoder", None)
    net = getattr(model, "model", model)
    if getattr(net, "pose_head", None) is None:
        raise ValueError("pose-head backend: the model has no pose head (config.pose.enabled is False)")
    params = next(net.parameters())
    dev, dt = torch.device(device) if device else params.device, params.dtype
    frames = np.clip(np.asarray(frames, np.float32) / (255.0 if frames.dtype == np.uint8 else 1.0), 0, 1)
    n, height, width = frames.shape[:3]
    tf = net.codec.temporal_factor
    usable = ((n - 1) // tf) * tf + 1  # a causal codec takes 1 + k·T frames
    m = net.codec.spatial_factor * tuple(net.backbone.transformer.config.patch_size)[1]
    h, w = max(m, round(height / m) * m), max(m, round(width / m) * m)
    if (h, w) != (height, width):  # the latent grid needs multiples of the patch; K follows the resize
        frames = np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) for f in frames])
    Kw = scale_intrinsics(K, w / width, h / height)
    x = torch.from_numpy(frames[:usable]).permute(3, 0, 1, 2)[None].to(dev, dt)
    with torch.no_grad():
        latents = net.codec.encode(x)
        cond = Conditioning(*net.image_condition(x[:, :, 0], usable), text, negative)
        if image_encoder is not None:
            cond.image_embeds = image_encoder(frames[:1]).to(dev, dt)
        noise = torch.randn(latents.shape, generator=torch.Generator().manual_seed(int(seed))).to(dev, dt)
        cams = net.estimate_cameras(latents, cond, w, h, noise=noise, K=Kw)[0]
    idx = np.arange(len(cams)) * tf
    registered = np.zeros(n, bool)
    registered[idx] = True
    out = Cameras(np.repeat(np.asarray(K, np.float64)[None], len(cams), 0), cams.cam_from_world, width, height)
    return CameraEstimate(out, registered, "pose-head")


register_backend("pose-head", _pose_head)
