"""The numba building blocks of the CPU splatting renderer (:mod:`render_cpu`): the cached ``njit``
and two 8-lane row operations written in LLVM IR.

LLVM's auto-vectoriser turns the short footprint loops of the z-buffer and accumulation passes into
gathers and scatters; :func:`zmin_row` and :func:`acc_row` do one row of the (2R+1)^2 window as
``LANES`` float32 lanes with the coverage and front tests as lane masks. Lanes outside the
footprint keep their old values, so the result equals a per-pixel loop, bit for bit.
"""

from __future__ import annotations

import numba
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

LANES = 8  # window cells per vector op


def jit(fn):
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
_vf = ir.VectorType(_f32, LANES)
_vi = ir.VectorType(_i32, LANES)


def _vptr(context, builder, arrty, arr, idx):
    """Pointer to ``LANES`` float32 of a 1-D array starting at ``idx`` (no bounds check)."""
    data = context.make_array(arrty)(context, builder, arr).data
    return builder.bitcast(builder.gep(data, [idx]), _vf.as_pointer())


def _splat(builder, x):
    v = builder.insert_element(ir.Constant(_vf, ir.Undefined), x, ir.Constant(_i32, 0))
    return builder.shuffle_vector(v, v, ir.Constant(_vi, [0] * LANES))


def _row_d2(builder, a, x0, nx, y2, r2):
    """Squared distances of the row's lane cells to the point and the lanes it covers:
    ``tx = a + (x0 + lane)``, ``d2 = y2 + tx * tx``; covered: ``lane < nx and d2 < r2``."""
    offs = builder.fadd(_splat(builder, x0), ir.Constant(_vf, [float(i) for i in range(LANES)]))
    tx = builder.fadd(_splat(builder, a), offs)
    d2 = builder.fadd(_splat(builder, y2), builder.fmul(tx, tx))
    inside = builder.icmp_signed("<", ir.Constant(_vi, list(range(LANES))), _splat_i(builder, nx))
    return d2, builder.and_(inside, builder.fcmp_ordered("<", d2, _splat(builder, r2)))


def _splat_i(builder, n):
    n = builder.trunc(n, _i32) if n.type.width > 32 else n
    v = builder.insert_element(ir.Constant(_vi, ir.Undefined), n, ir.Constant(_i32, 0))
    return builder.shuffle_vector(v, v, ir.Constant(_vi, [0] * LANES))


def _is_f32_vec(t):
    return isinstance(t, types.Array) and t.dtype == types.float32 and t.ndim == 1


@intrinsic
def zmin_row(typingctx, zbuf, c, a, x0, nx, y2, r2, z):
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
def acc_row(typingctx, acc, hs, zbuf, c, a, x0, nx, y2, r2, band1, z, cr, cg, cb):
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
        w = builder.fsub(ir.Constant(_vf, [1.0] * LANES), builder.fdiv(d2, _splat(builder, r2)))
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
