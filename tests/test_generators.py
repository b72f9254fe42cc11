"""Generator backends on one real request (object sample at a small working size)."""

import numpy as np
import torch

from worldstereo.camera import preset
from worldstereo.data.samples import load_sample
from worldstereo.pipelines.generators.model import ModelGenerator
from worldstereo.pipelines.generators.warp import (COPY_CONFIDENCE, FILL_CONFIDENCE, FILL_REACH, WarpGenerator,
                                                    inpaint_depth, merge_confidence)
from worldstereo.pipelines.scene_state import SceneState, resize_depth, resize_image


def _state(h, w):
    s = load_sample("object")
    K = np.diag([w / s.image.shape[1], h / s.image.shape[0], 1.0]) @ s.K
    return SceneState.from_image(resize_image(s.image, h, w), resize_depth(s.depth, h, w), K)


def test_inpaint_depth_fills_with_the_background_side():
    """A hole between a near (1) and a far (4) surface is background revealed behind the edge."""
    d = np.array([[1.0, 0.0, 0.0, 4.0], [1.0, 0.0, 0.0, 4.0]], np.float32)
    filled = inpaint_depth(d, d == 0)
    assert filled.tolist() == [[1.0, 4.0, 4.0, 4.0], [1.0, 4.0, 4.0, 4.0]]


def test_warp_first_frame_is_the_input_and_fills_every_hole():
    state = _state(36, 64)
    traj = preset("right", state.median_depth, state.K, 64, 36, 5)
    req = state.request(traj)
    assert req.masks[1:].mean() > 0.01  # the rotation uncovers something
    out = WarpGenerator().generate(req)
    assert np.array_equal(out.frames[0], state.image)
    assert (out.depth > 0).all() and np.isfinite(out.frames).all()
    assert out.info["fill_points"] > 0


def test_warp_frames_are_derived_and_only_fills_near_the_render_are_trusted():
    hole = np.zeros((20, 40), bool)
    hole[:, 10:] = True  # a hole reaching 30 px into the frame
    conf = merge_confidence(hole)
    assert (conf[:, :10] == COPY_CONFIDENCE).all()
    assert (conf[:, 10:10 + FILL_REACH] == FILL_CONFIDENCE).all()
    assert (conf[:, 10 + FILL_REACH + 1:] == 0).all()
    assert (merge_confidence(np.ones((4, 4), bool)) == 0).all()
    state = _state(36, 64)
    req = state.request(preset("right", state.median_depth, state.K, 64, 36, 5))
    out = WarpGenerator().generate(req)
    assert out.derived and out.confidence.shape == req.masks.shape
    np.testing.assert_array_equal(out.confidence, np.stack([merge_confidence(m > 0.5) for m in req.masks]))


def test_model_generator_uses_every_condition_and_pose_head_depth():
    from worldstereo.models import WorldStereoModel

    torch.manual_seed(0)
    gen = ModelGenerator(WorldStereoModel.from_config("tiny"), "tiny", untrained=False)
    h, w = gen.working_size(288, 512)
    assert (h % gen.size_multiple, w % gen.size_multiple) == (0, 0)
    state = _state(h, w)
    traj = preset("orbit", state.median_depth, state.K, w, h, gen.num_frames)
    req = state.request(traj, steps=2)
    assert req.references is not None and len(req.references) > 0
    steps = []
    out = gen.generate(req, lambda i, n, what: steps.append((i, n)))
    assert out.frames.shape == (gen.num_frames, h, w, 3) and np.array_equal(out.frames[0], state.image)
    assert steps == [(1, 2), (2, 2)]
    assert out.depth_source == "pose-head" and out.depth.shape == (gen.num_frames, h, w)
    assert out.info["ssm_pairs"] > 0


def test_convention_depth_resize_samples_new_pixel_centres():
    """Output pixel j samples input pixel floor((j + 0.5) * scale): a 10 -> 3 resize reads 1, 5, 8."""
    d = np.tile(np.arange(10, dtype=np.float32), (2, 1))
    assert resize_depth(d, 2, 3)[0].tolist() == [1.0, 5.0, 8.0]
