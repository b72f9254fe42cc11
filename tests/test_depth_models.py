"""The transformers depth backend on tiny random instances of each model class, saved locally
(offline: no test touches the network)."""

from __future__ import annotations

import numpy as np
import pytest

from depth_model_fixtures import BUILDERS, save_tiny_depth_model
from worldstereo.pipelines.depth import RELATIVE_UNITS, TransformersDepth, disparity_to_depth
from worldstereo.pipelines.inputs import InputError, resolve_intrinsics

pytest.importorskip("transformers")

EXPECTED_KIND = {"dpt": "relative", "depth-anything-relative": "relative", "depth-anything-metric": "metric",
                 "zoedepth": "metric", "depth-pro": "metric"}


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory):
    import torch

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("depth_models")
    return {name: save_tiny_depth_model(name, root) for name in BUILDERS}


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.mark.parametrize("name", list(BUILDERS))
def test_each_class_loads_and_gives_depth_at_image_size(model_dirs, name):
    img = np.random.default_rng(0).random((24, 40, 3)).astype(np.float32)
    backend = TransformersDepth(model_dirs[name])
    assert backend.kind == EXPECTED_KIND[name]
    est = backend.estimate(img)
    assert est.depth.shape == (24, 40) and est.depth.dtype == np.float32
    assert np.isfinite(est.depth).all() and (est.depth >= 0).all() and (est.depth > 0).any()
    assert est.metric == (EXPECTED_KIND[name] == "metric")
    if est.metric:
        assert est.units == "metric (m)"
    else:
        assert est.units == RELATIVE_UNITS
        assert np.median(est.depth[est.depth > 0]) == pytest.approx(1.0, rel=1e-5)


def test_relative_output_is_inverted_not_read_as_depth(model_dirs, monkeypatch):
    """A relative model's output is inverse depth: the backend returns depth proportional to the truth."""
    rng = np.random.default_rng(1)
    true = rng.uniform(1.0, 9.0, (24, 40)).astype(np.float32)
    backend = TransformersDepth(model_dirs["depth-anything-relative"])
    monkeypatch.setattr(backend, "predict", lambda image: (3.7 / true, None))
    est = backend.estimate(np.zeros((24, 40, 3), np.float32))
    ratio = est.depth / true
    assert np.allclose(ratio, ratio.mean(), rtol=1e-4)
    assert np.median(est.depth) == pytest.approx(1.0, rel=1e-5)


def test_disparity_to_depth_drops_sky_and_non_positive():
    disp = np.array([[2.0, 1.0, 0.0], [-1.0, 1e-9, 4.0]])
    d = disparity_to_depth(disp)
    assert d[0, 2] == 0 and d[1, 0] == 0 and d[1, 1] == 0
    assert d[0, 1] == pytest.approx(2 * d[0, 0]) and d[0, 0] == pytest.approx(2 * d[1, 2])
    assert np.median(d[d > 0]) == pytest.approx(1.0)


def test_depth_pro_focal_length_feeds_K(model_dirs):
    import torch

    backend = TransformersDepth(model_dirs["depth-pro"])
    img = np.random.default_rng(2).random((30, 50, 3)).astype(np.float32)
    est = backend.estimate(img)
    with torch.no_grad():
        fov = float(backend.model(**backend.processor(images=(img * 255).astype(np.uint8))).field_of_view[0])
    assert est.K is not None
    assert est.K[0, 0] == pytest.approx(0.5 * 50 / np.tan(np.radians(fov) / 2), rel=1e-5)
    assert est.K[0, 2] == 25 and est.K[1, 2] == 15
    K, src = resolve_intrinsics((30, 50), estimated=est.K)
    assert src == "depth-model" and np.allclose(K, est.K)


def test_hub_id_offline_is_one_line_naming_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    with pytest.raises(InputError) as err:
        TransformersDepth("someone/no-such-depth-model")
    msg = str(err.value)
    assert "\n" not in msg and "HF_HUB_OFFLINE" in msg and "someone/no-such-depth-model" in msg


def test_missing_folder_that_is_not_a_hub_id_says_so(tmp_path):
    with pytest.raises(InputError, match="no such depth model folder"):
        TransformersDepth(tmp_path / "nope" / "x" / "y")


def test_hub_id_downloads_only_when_the_network_is_allowed(model_dirs, monkeypatch):
    """The hub module asks huggingface_hub for a download only without HF_HUB_OFFLINE (mocked: no network)."""
    import huggingface_hub

    from worldstereo.hub import resolve_model

    calls = []

    def fake_snapshot(repo_id, revision=None, local_files_only=False):
        calls.append((repo_id, local_files_only))
        if local_files_only:
            raise huggingface_hub.errors.LocalEntryNotFoundError("not cached")
        return str(model_dirs["depth-anything-metric"])

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot)
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    backend = TransformersDepth("depth-anything/tiny-metric-hf")
    assert backend.kind == "metric" and calls == [("depth-anything/tiny-metric-hf", False)]
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(Exception, match="network is off"):
        resolve_model("depth-anything/tiny-metric-hf", "depth model")
    assert calls[-1] == ("depth-anything/tiny-metric-hf", True)
