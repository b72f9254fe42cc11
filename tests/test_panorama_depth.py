"""Panorama depth from overlapping perspective views: the overlap alignment undoes per-view
scale (and shift) drift, on a synthetic room with ground truth."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from worldstereo.geometry.panorama_depth import align_views, sample_views

_spec = importlib.util.spec_from_file_location(
    "bench_panorama_depth", Path(__file__).resolve().parents[1] / "benchmarks" / "bench_panorama_depth.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


@pytest.fixture(scope="module")
def rows():
    return {r["mode"]: r for r in bench.run(height=32, seed=0, noise=0.02, view_w=52, view_h=30)}


@pytest.mark.parametrize("mode", ["metric-scale", "relative-scale-shift"])
def test_alignment_reduces_error_and_seams(rows, mode):
    before, after = rows[mode]["before"], rows[mode]["after"]
    assert after["median_rel_error"] < 0.03
    assert after["median_rel_error"] < before["median_rel_error"] / 3
    assert after["seam_error_hard_stitch"] < before["seam_error_hard_stitch"] / 3
    assert after["seam_error_p90"] < before["seam_error_p90"]
    assert after["coverage"] > 0.5


def test_log_scale_alignment_recovers_known_scales():
    """Exact per-view depth times known scales: the solved log-scales are their inverse (view 0 fixed)."""
    gt, views, true_z = bench.scene_and_views(32, 0, 52, 30)
    scales = np.exp(np.random.default_rng(3).normal(0, 0.4, len(views)))
    s = sample_views(true_z * scales[:, None, None], views, 32, 64)
    got = align_views(s, "depth")
    expected = -np.log(scales) + np.log(scales[0])
    seen = s.covered.any(1)  # a pole view may see only sky (no ceiling): it keeps the identity
    assert got[0] == 0.0 and seen.sum() >= 27
    assert np.allclose(got[seen], expected[seen], atol=0.05)
    assert np.all(got[~seen] == 0.0)
