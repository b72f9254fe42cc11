"""Compiled CPU fast path of :func:`worldstereo.geometry.render_points` (numba); steps 1-2 are in
:mod:`render_cpu_project`, the vector row operations in :mod:`render_simd`.

Same splats, weights, front layer, point cap and outputs as the torch path, with the arithmetic
done in the same float32 operations, so the two agree up to float rounding. Per frame:

1. project every point (a branch-free block loop that LLVM vectorises), keep ``near < z < far``
   and the ones whose footprint can reach the image;
2. counting-sort the kept points by the 32 x 32 screen tile of their centre pixel (no argsort),
   so the buffer cells that a run of points touches stay in cache;
3. z-buffer pass: nearest covering depth per pixel;
4. with ``max_points_per_pixel``: count the front layer per pixel, then depth histograms for the
   pixels over the cap only (the share of slots per depth bin, as ``render._cap_shares``);
5. accumulation pass: front-layer points add ``w * [1, r, g, b, z]``;
6. normalise and write rgb / depth / mask / xyz straight into the output arrays.

The footprint loops of 3 and 5 work on one row of the (2R+1)^2 window at a time as 8-lane float
vectors (:func:`render_simd.zmin_row`, :func:`render_simd.acc_row`, written in LLVM IR because LLVM's auto-vectoriser
turns these short loops into gathers and scatters): the coverage and front tests become lane
masks instead of unpredictable branches. Lanes outside the footprint keep their old values, so the
result is the same as a per-pixel loop, bit for bit. Buffers carry a border of ``2R + 1`` pixels
as in the torch path (nothing wraps, no bounds checks) plus a few spare cells at the end for the
lanes past the window. Accumulators are five planes (weight, r, g, b, z).
"""

from __future__ import annotations

import math

import numpy as np

from .render_cpu_project import CHUNK, TILE_SHIFT, bin_by_tile, project, split_points
from .render_simd import LANES, acc_row, jit, zmin_row

_CAP_BINS = 32  # must match render._CAP_BINS


# --- per-frame stages --------------------------------------------------------------------------


@jit
def _rows(b, R, r2):
    """The window rows a point can cover: squared row distances grow away from row R (the centre
    pixel's, |b| <= 0.5), so the rows with ``(b + i - R)^2 < r2`` are one run; skipping the rest
    saves a row in five at r = 2 px."""
    n = 2 * R + 1
    first, last = 0, n
    for i in range(R):
        ty = b + np.float32(i - R)
        first += ty * ty >= r2
        ty = b + np.float32(R - i)
        last -= ty * ty >= r2
    return first, last


@jit
def _zbuffer(m, rec, cell, R, wp, r2, zbuf):
    n = 2 * R + 1
    for k in range(m):
        a, b, z = rec[k, 0], rec[k, 1], rec[k, 2]
        first, last = _rows(b, R, r2)
        for i in range(first, last):
            ty = b + np.float32(i - R)
            y2 = ty * ty
            row = cell[k] + i * wp
            for q in range(0, n, LANES):
                zmin_row(zbuf, row + q, a, np.float32(q - R), n - q, y2, r2, z)


@jit
def _accumulate(m, rec, cell, R, wp, r2, band1, zbuf, acc, hs):
    n = 2 * R + 1
    for k in range(m):
        a, b, z = rec[k, 0], rec[k, 1], rec[k, 2]
        cr, cg, cb = rec[k, 3], rec[k, 4], rec[k, 5]
        first, last = _rows(b, R, r2)
        for i in range(first, last):
            ty = b + np.float32(i - R)
            y2 = ty * ty
            row = cell[k] + i * wp
            for q in range(0, n, LANES):
                acc_row(acc, hs, zbuf, row + q, a, np.float32(q - R), n - q, y2, r2, band1, z, cr, cg, cb)


@jit
def _band_bin(z, zmin, band_div):
    q = (z / zmin - np.float32(1.0)) / band_div * np.float32(_CAP_BINS)
    if q >= np.float32(_CAP_BINS - 1):
        return _CAP_BINS - 1
    if q > np.float32(0.0):
        return int(q)  # truncation, like torch's .long()
    return 0


@jit
def _cap_shares(m, rec, cell, R, wp, r2, band1, band_div, cap, zbuf, cnt, hrow):
    """Per pixel over the cap: the share of slots of each depth bin (``render._cap_shares``);
    ``hrow[c]`` is the pixel's row in the returned table, -1 when all its front points count fully."""
    f32 = np.float32
    n = 2 * R + 1
    cnt[:] = 0
    for k in range(m):
        a, b, z = rec[k, 0], rec[k, 1], rec[k, 2]
        for i in range(n):
            ty = b + f32(i - R)
            y2 = ty * ty
            row = cell[k] + i * wp
            for j in range(n):
                tx = a + f32(j - R)
                c = row + j
                if y2 + tx * tx < r2 and z <= zbuf[c] * band1:
                    cnt[c] += 1
    nrows = 0
    for c in range(cnt.shape[0]):
        if cnt[c] > cap:
            hrow[c] = nrows
            nrows += 1
        else:
            hrow[c] = -1
    hist = np.zeros((nrows, _CAP_BINS), np.float32)
    if nrows == 0:
        return hist
    for k in range(m):
        a, b, z = rec[k, 0], rec[k, 1], rec[k, 2]
        for i in range(n):
            ty = b + f32(i - R)
            y2 = ty * ty
            row = cell[k] + i * wp
            for j in range(n):
                tx = a + f32(j - R)
                c = row + j
                if hrow[c] >= 0 and y2 + tx * tx < r2 and z <= zbuf[c] * band1:
                    hist[hrow[c], _band_bin(z, zbuf[c], band_div)] += f32(1.0)
    capf, zero, one = f32(cap), f32(0.0), f32(1.0)
    for i in range(nrows):
        before = zero
        for j in range(_CAP_BINS):
            h = hist[i, j]
            hist[i, j] = min(max((capf - before) / max(h, one), zero), one)
            before += h
    return hist


@jit
def _accumulate_capped(m, rec, cell, R, wp, r2, band1, band_div, zbuf, hrow, share, acc, hs):
    """:func:`_accumulate` with each weight scaled by its pixel's share for the point's depth bin."""
    f32 = np.float32
    n = 2 * R + 1
    one = f32(1.0)
    for k in range(m):
        a, b, z = rec[k, 0], rec[k, 1], rec[k, 2]
        cr, cg, cb = rec[k, 3], rec[k, 4], rec[k, 5]
        for i in range(n):
            ty = b + f32(i - R)
            y2 = ty * ty
            row = cell[k] + i * wp
            for j in range(n):
                tx = a + f32(j - R)
                d2 = y2 + tx * tx
                c = row + j
                if d2 < r2 and z <= zbuf[c] * band1:
                    w = one - d2 / r2
                    if hrow[c] >= 0:
                        w = w * share[hrow[c], _band_bin(z, zbuf[c], band_div)]
                    acc[c] += w
                    acc[hs + c] += w * cr
                    acc[2 * hs + c] += w * cg
                    acc[3 * hs + c] += w * cb
                    acc[4 * hs + c] += w * z


@jit
def _finish(f, acc, hs, pad, wp, Rf, tf, Kf, out_rgb, out_depth, out_mask, out_xyz):
    """Normalise frame f; xyz = pixel-centre ray at the rendered depth (the camera centre in
    holes, as the torch path)."""
    f32 = np.float32
    half, one, zero, eps = f32(0.5), f32(1.0), f32(0.0), f32(1e-8)
    height, width = out_depth.shape[1], out_depth.shape[2]
    fx, sk, cx, fy, cy = Kf[0, 0], Kf[0, 1], Kf[0, 2], Kf[1, 1], Kf[1, 2]
    c0 = -(Rf[0, 0] * tf[0] + Rf[1, 0] * tf[1] + Rf[2, 0] * tf[2])
    c1 = -(Rf[0, 1] * tf[0] + Rf[1, 1] * tf[1] + Rf[2, 1] * tf[2])
    c2 = -(Rf[0, 2] * tf[0] + Rf[1, 2] * tf[1] + Rf[2, 2] * tf[2])
    for i in range(height):
        ry = (f32(i) + half - cy) / fy
        src = (i + pad) * wp + pad
        for j in range(width):
            c = src + j
            ws = acc[c]
            if ws <= eps:
                cr = cg = cb = d = zero
                out_mask[f, i, j] = one
            else:
                cr = min(max(acc[hs + c] / ws, zero), one)
                cg = min(max(acc[2 * hs + c] / ws, zero), one)
                cb = min(max(acc[3 * hs + c] / ws, zero), one)
                d = acc[4 * hs + c] / ws
                out_mask[f, i, j] = zero
            out_rgb[f, i, j, 0] = cr
            out_rgb[f, i, j, 1] = cg
            out_rgb[f, i, j, 2] = cb
            out_depth[f, i, j] = d
            rx = (f32(j) + half - cx - sk * ry) / fx
            out_xyz[f, i, j, 0] = (Rf[0, 0] * rx + Rf[1, 0] * ry + Rf[2, 0]) * d + c0
            out_xyz[f, i, j, 1] = (Rf[0, 1] * rx + Rf[1, 1] * ry + Rf[2, 1]) * d + c1
            out_xyz[f, i, j, 2] = (Rf[0, 2] * rx + Rf[1, 2] * ry + Rf[2, 2]) * d + c2


@jit
def _render_frames(xyz, rgb, Rs, ts, Ks, r, R, band, near, far, cap,
                   out_rgb, out_depth, out_mask, out_xyz):
    f32 = np.float32
    height, width = out_depth.shape[1], out_depth.shape[2]
    n = xyz.shape[0]
    px = np.empty(n, np.float32)
    py = np.empty(n, np.float32)
    pz = np.empty(n, np.float32)
    box = np.empty(((n + CHUNK - 1) // CHUNK, 6))
    split_points(xyz, px, py, pz, box)
    r2 = f32(r * r)
    band1, band_div = f32(1.0 + band), f32(max(band, 1e-12))
    pad = 2 * R + 1
    wp = width + 2 * pad
    hs = (height + 2 * pad) * wp + LANES  # plane size, with spare cells for the lanes past the last window
    us = np.empty(n, np.float32)
    vs = np.empty(n, np.float32)
    zs = np.empty(n, np.float32)
    ids = np.empty(n, np.int64)
    tile = np.empty(n, np.int32)
    ntiles = ((width + (1 << TILE_SHIFT) - 1) >> TILE_SHIFT) * ((height + (1 << TILE_SHIFT) - 1) >> TILE_SHIFT)
    count = np.empty(ntiles, np.int64)
    rec = np.empty((0, 6), np.float32)
    cell = np.empty(0, np.int64)
    zbuf = np.empty(hs, np.float32)
    acc = np.empty(5 * hs, np.float32)
    cnt = np.empty(hs if cap > 0 else 0, np.int32)
    hrow = np.empty(hs if cap > 0 else 0, np.int32)
    for f in range(Rs.shape[0]):
        count[:] = 0
        m = project(px, py, pz, box, Rs[f], ts[f], Ks[f], near, far, r, height, width, us, vs, zs, ids, tile, count)
        if rec.shape[0] < m:
            rec = np.empty((max(m, 2 * rec.shape[0]), 6), np.float32)
            cell = np.empty(rec.shape[0], np.int64)
        bin_by_tile(m, us, vs, zs, ids, tile, count, rgb, R, pad, wp, rec, cell)
        zbuf[:] = np.inf
        acc[:] = 0.0
        _zbuffer(m, rec, cell, R, wp, r2, zbuf)
        if cap > 0:
            share = _cap_shares(m, rec, cell, R, wp, r2, band1, band_div, cap, zbuf, cnt, hrow)
            _accumulate_capped(m, rec, cell, R, wp, r2, band1, band_div, zbuf, hrow, share, acc, hs)
        else:
            _accumulate(m, rec, cell, R, wp, r2, band1, zbuf, acc, hs)
        _finish(f, acc, hs, pad, wp, Rs[f], ts[f], Ks[f], out_rgb, out_depth, out_mask, out_xyz)


def render_frames(xyz: np.ndarray, rgb: np.ndarray, K: np.ndarray, T: np.ndarray, height: int, width: int,
                  r: float, max_points_per_pixel, depth_band: float, near: float, far: float):
    """numpy in, numpy out: ``(rgb (F,H,W,3), depth (F,H,W), mask (F,H,W), xyz (F,H,W,3))``, float32.

    ``xyz``/``rgb``: (P, 3); ``K`` (F, 3, 3) and ``T`` (F, 4, 4) cam_from_world, float32 (the
    torch path's values). ``r`` > 0 in pixels; ``max_points_per_pixel`` None or >= 1.
    """
    f = K.shape[0]
    out_rgb = np.empty((f, height, width, 3), np.float32)
    out_depth = np.empty((f, height, width), np.float32)
    out_mask = np.empty((f, height, width), np.float32)
    out_xyz = np.empty((f, height, width, 3), np.float32)
    _render_frames(np.ascontiguousarray(xyz, np.float32), np.ascontiguousarray(rgb, np.float32),
                   np.ascontiguousarray(T[:, :3, :3], np.float32), np.ascontiguousarray(T[:, :3, 3], np.float32),
                   np.ascontiguousarray(K, np.float32), float(r), int(math.ceil(r)), float(depth_band),
                   float(near), float(far), 0 if max_points_per_pixel is None else int(max_points_per_pixel),
                   out_rgb, out_depth, out_mask, out_xyz)
    return out_rgb, out_depth, out_mask, out_xyz
