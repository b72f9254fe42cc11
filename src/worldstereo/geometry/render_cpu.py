"""Compiled CPU fast path of :func:`worldstereo.geometry.render_points` (numba).

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
vectors (:func:`_zmin_row`, :func:`_acc_row`, written in LLVM IR because LLVM's auto-vectoriser
turns these short loops into gathers and scatters): the coverage and front tests become lane
masks instead of unpredictable branches. Lanes outside the footprint keep their old values, so the
result is the same as a per-pixel loop, bit for bit. Buffers carry a border of ``2R + 1`` pixels
as in the torch path (nothing wraps, no bounds checks) plus a few spare cells at the end for the
lanes past the window. Accumulators are five planes (weight, r, g, b, z).
"""

from __future__ import annotations

import math

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

_CAP_BINS = 32  # must match render._CAP_BINS
_TILE_SHIFT = 5  # 32 x 32 pixel tiles
_CHUNK = 4096  # points projected per vectorised block
_LANES = 8  # window cells per vector op


def _jit(fn):
    """``njit`` with numba's on-disk cache where it can write one (``__pycache__`` next to this
    file, else the user-wide numba cache dir); where neither is writable it compiles on first use
    in each process instead."""
    # error_model="numpy": float division by zero gives inf/nan like torch instead of raising;
    # without that check LLVM can vectorise the projection
    opts = dict(nogil=True, error_model="numpy")
    try:
        return numba.njit(cache=True, **opts)(fn)
    except RuntimeError:  # "cannot cache function ...: no locator available"
        return numba.njit(**opts)(fn)


# --- 8-lane row operations (LLVM IR) -----------------------------------------------------------

_f32 = ir.FloatType()
_i32 = ir.IntType(32)
_vf = ir.VectorType(_f32, _LANES)
_vi = ir.VectorType(_i32, _LANES)


def _vptr(context, builder, arrty, arr, idx):
    """Pointer to ``_LANES`` float32 of a 1-D array starting at ``idx`` (no bounds check)."""
    data = context.make_array(arrty)(context, builder, arr).data
    return builder.bitcast(builder.gep(data, [idx]), _vf.as_pointer())


def _splat(builder, x):
    v = builder.insert_element(ir.Constant(_vf, ir.Undefined), x, ir.Constant(_i32, 0))
    return builder.shuffle_vector(v, v, ir.Constant(_vi, [0] * _LANES))


def _row_d2(builder, a, x0, nx, y2, r2):
    """Squared distances of the row's lane cells to the point and the lanes it covers:
    ``tx = a + (x0 + lane)``, ``d2 = y2 + tx * tx``; covered: ``lane < nx and d2 < r2``."""
    offs = builder.fadd(_splat(builder, x0), ir.Constant(_vf, [float(i) for i in range(_LANES)]))
    tx = builder.fadd(_splat(builder, a), offs)
    d2 = builder.fadd(_splat(builder, y2), builder.fmul(tx, tx))
    inside = builder.icmp_signed("<", ir.Constant(_vi, list(range(_LANES))), _splat_i(builder, nx))
    return d2, builder.and_(inside, builder.fcmp_ordered("<", d2, _splat(builder, r2)))


def _splat_i(builder, n):
    n = builder.trunc(n, _i32) if n.type.width > 32 else n
    v = builder.insert_element(ir.Constant(_vi, ir.Undefined), n, ir.Constant(_i32, 0))
    return builder.shuffle_vector(v, v, ir.Constant(_vi, [0] * _LANES))


def _is_f32_vec(t):
    return isinstance(t, types.Array) and t.dtype == types.float32 and t.ndim == 1


@intrinsic
def _zmin_row(typingctx, zbuf, c, a, x0, nx, y2, r2, z):
    """zbuf[c + l] = min(zbuf[c + l], z) for the lanes l the point covers."""
    if not (_is_f32_vec(zbuf) and all(t == types.float32 for t in (a, x0, y2, r2, z))):
        return None
    sig = types.void(zbuf, c, a, x0, nx, y2, r2, z)

    def codegen(context, builder, sig, args):
        zb, c, a, x0, nx, y2, r2, z = args
        _, cov = _row_d2(builder, a, x0, nx, y2, r2)
        p = _vptr(context, builder, sig.args[0], zb, c)
        old = builder.load(p, align=4)
        zs = _splat(builder, z)
        m = builder.and_(cov, builder.fcmp_ordered("<", zs, old))
        builder.store(builder.select(m, zs, old), p, align=4)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def _acc_row(typingctx, acc, hs, zbuf, c, a, x0, nx, y2, r2, band1, z, cr, cg, cb):
    """For the covered lanes whose point is in the front layer (``z <= zbuf * band1``):
    plane p of ``acc`` (at offset ``p * hs``) += ``w * [1, cr, cg, cb, z][p]``, ``w = 1 - d2 / r2``."""
    if not (_is_f32_vec(acc) and _is_f32_vec(zbuf)
            and all(t == types.float32 for t in (a, x0, y2, r2, band1, z, cr, cg, cb))):
        return None
    sig = types.void(acc, hs, zbuf, c, a, x0, nx, y2, r2, band1, z, cr, cg, cb)

    def codegen(context, builder, sig, args):
        acc, hs, zb, c, a, x0, nx, y2, r2, band1, z, cr, cg, cb = args
        d2, cov = _row_d2(builder, a, x0, nx, y2, r2)
        limit = builder.fmul(builder.load(_vptr(context, builder, sig.args[2], zb, c), align=4), _splat(builder, band1))
        zs = _splat(builder, z)
        m = builder.and_(cov, builder.fcmp_ordered("<=", zs, limit))
        w = builder.fsub(ir.Constant(_vf, [1.0] * _LANES), builder.fdiv(d2, _splat(builder, r2)))
        idx = c
        for p, val in enumerate((None, cr, cg, cb, z)):
            if p:
                idx = builder.add(idx, hs)
            ptr = _vptr(context, builder, sig.args[0], acc, idx)
            old = builder.load(ptr, align=4)
            inc = w if val is None else builder.fmul(w, _splat(builder, val))
            builder.store(builder.select(m, builder.fadd(old, inc), old), ptr, align=4)
        return context.get_dummy_value()

    return sig, codegen


# --- per-frame stages --------------------------------------------------------------------------


@_jit
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


@_jit
def _split_points(xyz, px, py, pz, box):
    """Copy the points into SoA ``px, py, pz`` (for SIMD) and take the bounding box of each block
    of ``_CHUNK`` points (min xyz, max xyz), which lets a frame skip blocks outside its frustum
    (:func:`_block_visible`). A block holding a non-finite coordinate gets a NaN box: never skipped."""
    n = xyz.shape[0]
    for b in range(box.shape[0]):
        s, e = b * _CHUNK, min((b + 1) * _CHUNK, n)
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


@_jit
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


@_jit
def _project(px, py, pz, box, R, t, K, near, far, r, height, width, us, vs, zs, ids, tile, count):
    """Project the points of the blocks the camera may see; write the kept ones compacted, with
    the 32 x 32 screen tile of their (clamped) centre pixel, and count them per tile. Returns how many."""
    f32 = np.float32
    near32, far32 = f32(near), f32(far)
    lo, hi_u, hi_v = f32(-r), f32(width + r), f32(height + r)
    bu = np.empty(_CHUNK, np.float32)
    bv = np.empty(_CHUNK, np.float32)
    bz = np.empty(_CHUNK, np.float32)
    bk = np.empty(_CHUNK, np.uint8)
    ntx = (width + (1 << _TILE_SHIFT) - 1) >> _TILE_SHIFT
    n = px.shape[0]
    m = 0
    for blk in range(box.shape[0]):
        if not _block_visible(box[blk], R, t, K, near, far, r, width, height):
            continue
        s, e = blk * _CHUNK, min((blk + 1) * _CHUNK, n)
        _project_block(px[s:e], py[s:e], pz[s:e], R, t, K, near32, far32, lo, hi_u, hi_v, bu, bv, bz, bk)
        for q in range(e - s):
            if bk[q]:
                u, v = bu[q], bv[q]
                col = min(max(int(math.floor(u)), 0), width - 1)
                row = min(max(int(math.floor(v)), 0), height - 1)
                tid = (row >> _TILE_SHIFT) * ntx + (col >> _TILE_SHIFT)
                us[m] = u
                vs[m] = v
                zs[m] = bz[q]
                ids[m] = s + q
                tile[m] = tid
                count[tid] += 1
                m += 1
    return m


@_jit
def _bin_by_tile(m, us, vs, zs, ids, tile, count, rgb, R, pad, wp, rec, cell):
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


@_jit
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


@_jit
def _zbuffer(m, rec, cell, R, wp, r2, zbuf):
    n = 2 * R + 1
    for k in range(m):
        a, b, z = rec[k, 0], rec[k, 1], rec[k, 2]
        first, last = _rows(b, R, r2)
        for i in range(first, last):
            ty = b + np.float32(i - R)
            y2 = ty * ty
            row = cell[k] + i * wp
            for q in range(0, n, _LANES):
                _zmin_row(zbuf, row + q, a, np.float32(q - R), n - q, y2, r2, z)


@_jit
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
            for q in range(0, n, _LANES):
                _acc_row(acc, hs, zbuf, row + q, a, np.float32(q - R), n - q, y2, r2, band1, z, cr, cg, cb)


@_jit
def _band_bin(z, zmin, band_div):
    q = (z / zmin - np.float32(1.0)) / band_div * np.float32(_CAP_BINS)
    if q >= np.float32(_CAP_BINS - 1):
        return _CAP_BINS - 1
    if q > np.float32(0.0):
        return int(q)  # truncation, like torch's .long()
    return 0


@_jit
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


@_jit
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


@_jit
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


@_jit
def _render_frames(xyz, rgb, Rs, ts, Ks, r, R, band, near, far, cap,
                   out_rgb, out_depth, out_mask, out_xyz):
    f32 = np.float32
    height, width = out_depth.shape[1], out_depth.shape[2]
    n = xyz.shape[0]
    px = np.empty(n, np.float32)
    py = np.empty(n, np.float32)
    pz = np.empty(n, np.float32)
    box = np.empty(((n + _CHUNK - 1) // _CHUNK, 6))
    _split_points(xyz, px, py, pz, box)
    r2 = f32(r * r)
    band1, band_div = f32(1.0 + band), f32(max(band, 1e-12))
    pad = 2 * R + 1
    wp = width + 2 * pad
    hs = (height + 2 * pad) * wp + _LANES  # plane size, with spare cells for the lanes past the last window
    us = np.empty(n, np.float32)
    vs = np.empty(n, np.float32)
    zs = np.empty(n, np.float32)
    ids = np.empty(n, np.int64)
    tile = np.empty(n, np.int32)
    ntiles = ((width + (1 << _TILE_SHIFT) - 1) >> _TILE_SHIFT) * ((height + (1 << _TILE_SHIFT) - 1) >> _TILE_SHIFT)
    count = np.empty(ntiles, np.int64)
    rec = np.empty((0, 6), np.float32)
    cell = np.empty(0, np.int64)
    zbuf = np.empty(hs, np.float32)
    acc = np.empty(5 * hs, np.float32)
    cnt = np.empty(hs if cap > 0 else 0, np.int32)
    hrow = np.empty(hs if cap > 0 else 0, np.int32)
    for f in range(Rs.shape[0]):
        count[:] = 0
        m = _project(px, py, pz, box, Rs[f], ts[f], Ks[f], near, far, r, height, width, us, vs, zs, ids, tile, count)
        if rec.shape[0] < m:
            rec = np.empty((max(m, 2 * rec.shape[0]), 6), np.float32)
            cell = np.empty(rec.shape[0], np.int64)
        _bin_by_tile(m, us, vs, zs, ids, tile, count, rgb, R, pad, wp, rec, cell)
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
