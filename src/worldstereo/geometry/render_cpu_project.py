"""Steps 1 and 2 of the CPU splatting renderer (:mod:`render_cpu`): project the points of one frame
and counting-sort the kept ones by screen tile.

1. project every point (a branch-free block loop that LLVM vectorises), keep ``near < z < far`` and
   the ones whose footprint can reach the image (blocks of ``CHUNK`` points are first tested as a
   whole against the frustum, by their bounding box);
2. counting-sort the kept points by the 32 x 32 screen tile of their centre pixel (no argsort), so
   the buffer cells that a run of points touches stay in cache.
"""

from __future__ import annotations

import math

import numpy as np

from .render_simd import jit

TILE_SHIFT = 5  # 32 x 32 pixel tiles
CHUNK = 4096  # points projected per vectorised block


@jit
def _project_block(px, py, pz, R, t, K, near, far, lo, hi_u, hi_v, bu, bv, bz, bk):
    """Branch-free (so SIMD) projection of a block of points, keep flags in ``bk``."""
    r00, r01, r02 = R[0, 0], R[0, 1], R[0, 2]
    r10, r11, r12 = R[1, 0], R[1, 1], R[1, 2]
    r20, r21, r22 = R[2, 0], R[2, 1], R[2, 2]
    t0, t1, t2 = t[0], t[1], t[2]
    fx, sk, cx, fy, cy = K[0, 0], K[0, 1], K[0, 2], K[1, 1], K[1, 2]
    for p in range(px.shape[0]):
        x, y, w = px[p], py[p], pz[p]
        z = x * r20 + y * r21 + w * r22 + t2
        X = x * r00 + y * r01 + w * r02 + t0
        Y = x * r10 + y * r11 + w * r12 + t1
        u = fx * X / z + sk * Y / z + cx  # the torch path's order of operations
        v = fy * Y / z + cy
        bu[p] = u
        bv[p] = v
        bz[p] = z
        bk[p] = (z > near) & (z < far) & (u > lo) & (u < hi_u) & (v > lo) & (v < hi_v)


@jit
def split_points(xyz, px, py, pz, box):
    """Copy the points into SoA ``px, py, pz`` (for SIMD) and take the bounding box of each block
    of ``CHUNK`` points (min xyz, max xyz), which lets a frame skip blocks outside its frustum
    (:func:`_block_visible`). A block holding a non-finite coordinate gets a NaN box: never skipped."""
    n = xyz.shape[0]
    for b in range(box.shape[0]):
        s, e = b * CHUNK, min((b + 1) * CHUNK, n)
        lx = ly = lz = np.float32(np.inf)
        hx = hy = hz = np.float32(-np.inf)
        finite = True
        for p in range(s, e):
            x, y, w = xyz[p, 0], xyz[p, 1], xyz[p, 2]
            px[p], py[p], pz[p] = x, y, w
            finite &= np.isfinite(x + y + w)  # inf - inf and nan propagate
            lx, ly, lz = min(lx, x), min(ly, y), min(lz, w)
            hx, hy, hz = max(hx, x), max(hy, y), max(hz, w)
        box[b, 0], box[b, 1], box[b, 2] = lx, ly, lz
        box[b, 3], box[b, 4], box[b, 5] = hx, hy, hz
        if not finite:
            box[b, 0] = np.nan


@jit
def _block_visible(box, R, t, K, near, far, r, width, height):
    """False only when no point of the box can pass the per-point test of :func:`_project_block`.

    The tests are linear in the world point (``u > -r`` is ``fx X + sk Y + (cx + r) Z > 0`` for
    Z > 0), so their extremes over the box are at its corners; computed in float64 with a margin
    of 1e-4 of the magnitudes involved, far above float32 rounding of the per-point projection."""
    if not (box[0] <= box[3]):  # NaN: a non-finite point somewhere in the block
        return True
    zmin, zmax = np.inf, -np.inf
    g1, g2, h1, h2 = -np.inf, np.inf, -np.inf, np.inf
    ax = ay = az = 0.0
    fx, sk, cx, fy, cy = float(K[0, 0]), float(K[0, 1]), float(K[0, 2]), float(K[1, 1]), float(K[1, 2])
    for corner in range(8):
        x = box[3] if corner & 1 else box[0]
        y = box[4] if corner & 2 else box[1]
        w = box[5] if corner & 4 else box[2]
        X = R[0, 0] * x + R[0, 1] * y + R[0, 2] * w + t[0]
        Y = R[1, 0] * x + R[1, 1] * y + R[1, 2] * w + t[1]
        Z = R[2, 0] * x + R[2, 1] * y + R[2, 2] * w + t[2]
        ax = max(ax, abs(R[0, 0] * x) + abs(R[0, 1] * y) + abs(R[0, 2] * w) + abs(t[0]))
        ay = max(ay, abs(R[1, 0] * x) + abs(R[1, 1] * y) + abs(R[1, 2] * w) + abs(t[1]))
        az = max(az, abs(R[2, 0] * x) + abs(R[2, 1] * y) + abs(R[2, 2] * w) + abs(t[2]))
        zmin, zmax = min(zmin, Z), max(zmax, Z)
        g1 = max(g1, fx * X + sk * Y + (cx + r) * Z)
        g2 = min(g2, fx * X + sk * Y + (cx - width - r) * Z)
        h1 = max(h1, fy * Y + (cy + r) * Z)
        h2 = min(h2, fy * Y + (cy - height - r) * Z)
    eps = 1e-4
    mz = eps * az
    if zmax <= near - mz or zmin >= far + mz:
        return False
    if near >= 0.0:  # drawn points have Z > 0: the side tests are the linear ones above
        mu = eps * (fx * ax + abs(sk) * ay + (abs(cx) + r + width) * az)
        mv = eps * (fy * ay + (abs(cy) + r + height) * az)
        if g1 <= -mu or g2 >= mu or h1 <= -mv or h2 >= mv:
            return False
    return True


@jit
def project(px, py, pz, box, R, t, K, near, far, r, height, width, us, vs, zs, ids, tile, count):
    """Project the points of the blocks the camera may see; write the kept ones compacted, with
    the 32 x 32 screen tile of their (clamped) centre pixel, and count them per tile. Returns how many."""
    f32 = np.float32
    near32, far32 = f32(near), f32(far)
    lo, hi_u, hi_v = f32(-r), f32(width + r), f32(height + r)
    bu = np.empty(CHUNK, np.float32)
    bv = np.empty(CHUNK, np.float32)
    bz = np.empty(CHUNK, np.float32)
    bk = np.empty(CHUNK, np.uint8)
    ntx = (width + (1 << TILE_SHIFT) - 1) >> TILE_SHIFT
    n = px.shape[0]
    m = 0
    for blk in range(box.shape[0]):
        if not _block_visible(box[blk], R, t, K, near, far, r, width, height):
            continue
        s, e = blk * CHUNK, min((blk + 1) * CHUNK, n)
        _project_block(px[s:e], py[s:e], pz[s:e], R, t, K, near32, far32, lo, hi_u, hi_v, bu, bv, bz, bk)
        for q in range(e - s):
            if bk[q]:
                u, v = bu[q], bv[q]
                col = min(max(int(math.floor(u)), 0), width - 1)
                row = min(max(int(math.floor(v)), 0), height - 1)
                tid = (row >> TILE_SHIFT) * ntx + (col >> TILE_SHIFT)
                us[m] = u
                vs[m] = v
                zs[m] = bz[q]
                ids[m] = s + q
                tile[m] = tid
                count[tid] += 1
                m += 1
    return m


@jit
def bin_by_tile(m, us, vs, zs, ids, tile, count, rgb, R, pad, wp, rec, cell):
    """Counting sort of the m kept points by tile (``count`` per tile becomes the start offsets).

    Writes ``rec`` rows ``[a, b, z, r, g, b]`` with ``a = floor(u) + 0.5 - u`` (``b`` likewise
    for v: the offsets of the centre pixel's centre, as the torch path) and ``cell``, the padded
    buffer index of the window's top-left cell."""
    half = np.float32(0.5)
    total = 0
    for i in range(count.shape[0]):
        c = count[i]
        count[i] = total
        total += c
    for k in range(m):
        j = count[tile[k]]
        count[tile[k]] = j + 1
        p = ids[k]
        fu, fv = np.floor(us[k]), np.floor(vs[k])
        rec[j, 0] = fu + half - us[k]
        rec[j, 1] = fv + half - vs[k]
        rec[j, 2] = zs[k]
        rec[j, 3] = rgb[p, 0]
        rec[j, 4] = rgb[p, 1]
        rec[j, 5] = rgb[p, 2]
        cell[j] = (int(fv) + pad - R) * wp + int(fu) + pad - R
