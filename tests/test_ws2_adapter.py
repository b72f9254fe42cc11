"""The released input conventions (ws2 adapter) against the released camera code's outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from safetensors.torch import load_file

from worldstereo.pipelines.generators.ws2_adapter import (camera_qt, pick_references, plucker_released,
                                                          render_inputs)

FIX = Path(__file__).parent / "fixtures" / "ws2"


def _io():
    return {k: v.double().numpy() for k, v in load_file(FIX / "preprocess_io.safetensors").items()}


def test_convention_ws2_plucker_grid_matches_release():
    io = _io()
    h, w = io["plucker"].shape[3], io["plucker"].shape[4]
    ours = plucker_released(io["K"], io["w2c"], h, w)
    np.testing.assert_allclose(ours, io["plucker"][0], atol=2e-5, rtol=1e-4)
    # the released grid is (j - 0.5, i + 0.5): the project's (j + 0.5) grid would not match
    shifted_K = io["K"].copy()
    shifted_K[:, 0, 2] -= 1.0
    assert np.abs(plucker_released(shifted_K, io["w2c"], h, w) - io["plucker"][0]).max() > 1e-3


def test_convention_ws2_camera_qt_matches_release():
    io = _io()
    qt, qt_ref = camera_qt(io["w2c"], io["w2c_ref"])
    np.testing.assert_allclose(qt, io["camera_qt"], atol=2e-5)
    np.testing.assert_allclose(qt_ref, io["camera_qt_ref"], atol=2e-5)
    assert (qt[:, 0] >= 0).all()


def test_convention_ws2_render_holes_and_frame0():
    rng = np.random.default_rng(0)
    image = rng.random((4, 6, 3), dtype=np.float32)
    renders = rng.random((3, 4, 6, 3), dtype=np.float32)
    masks = (rng.random((3, 4, 6)) > 0.5).astype(np.float32)
    masks[0] = 1.0
    video, hole = render_inputs(image, renders, masks)
    assert video.shape == (3, 3, 4, 6) and hole.shape == (1, 3, 4, 6)
    np.testing.assert_allclose(video[:, 0], image.transpose(2, 0, 1) * 2 - 1, atol=1e-6)
    assert hole[0, 0].sum() == 0 and np.array_equal(hole[0, 1:], masks[1:])
    assert np.all(video[:, 1:][:, hole[0, 1:] > 0] == 0.0)  # holes are mid-grey


def test_references_first_appearance_and_fallback():
    from types import SimpleNamespace

    image = np.zeros((4, 6, 3), np.float32)
    w2c = np.tile(np.eye(4), (5, 1, 1))
    none = pick_references(image, w2c, None)
    assert none.ref_index.tolist() == [0] and none.images.shape == (1, 4, 6, 3)
    cams = SimpleNamespace(cam_from_world=np.tile(np.eye(4), (4, 1, 1)))
    refs = SimpleNamespace(target_indices=np.array([4, 8, 12, 16]), bank_indices=np.array([7, 3, 7, 5]),
                           images=np.arange(4, dtype=np.float32)[:, None, None, None] * np.ones((4, 4, 6, 3)),
                           cameras=cams, __len__=lambda: 4)
    refs = type("R", (), {**vars(refs), "__len__": lambda self: 4})()
    pick = pick_references(image, w2c, refs)
    assert pick.ref_index.tolist() == [3, 7, 15]  # bank frame 7 first seen at target 4, 3 at 8, 5 at 16
    assert pick.images[:, 0, 0, 0].tolist() == [0.0, 1.0, 3.0]
