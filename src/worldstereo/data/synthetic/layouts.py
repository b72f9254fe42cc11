"""``make_scene(seed, kind)``: procedural rooms, outdoor plots and object-centred scenes.

Everything is drawn from one ``numpy.random.Generator`` seeded by ``(seed, kind)``, in a fixed
order, so a seed always gives the same scene bit for bit. World axes are OpenCV (y down): the
floor / ground is y = 0 and heights are negative y. Units are metres.
"""

from __future__ import annotations

import zlib

import numpy as np

from . import meshes
from .meshes import Part
from .world import Scene
from .textures import TEXTURE_SIZE, make_texture, sky_texture

KINDS = ("room", "outdoor", "object")
# Objects in rooms stay below this height so that eyes drawn above it never start inside one.
ROOM_OBJECT_TOP = 1.3


class _Builder:
    """Collects parts, textures and object names into the arrays of a :class:`Scene`."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.parts: list[tuple[Part, int, int]] = []
        self.textures: list[np.ndarray] = []
        self.names: list[str] = []
        self.solid: set[int] = set()
        self.background: set[int] = set()

    def texture(self, pattern: str | None = None) -> int:
        self.textures.append(make_texture(self.rng, pattern))
        return len(self.textures) - 1

    def add(self, name: str, part: Part, texture: int, solid: bool = False, background: bool = False) -> int:
        oid = len(self.names)
        self.names.append(name)
        self.parts.append((part, texture, oid))
        if solid:
            self.solid.add(oid)
        if background:
            self.background.add(oid)
        return oid

    def build(self, seed: int, kind: str, eye_region, target_region, view_distance: tuple[float, float],
              size: float, free_box) -> Scene:
        verts, tris, uvs, tex, obj = [], [], [], [], []
        offset = 0
        for part, t, oid in self.parts:
            verts.append(part.vertices)
            tris.append(part.faces + offset)
            uvs.append(part.uvs)
            tex.append(np.full(len(part.faces), t, np.int32))
            obj.append(np.full(len(part.faces), oid, np.int32))
            offset += len(part.vertices)
        return Scene(
            seed=seed, kind=kind,
            vertices=np.concatenate(verts).astype(np.float32),
            triangles=np.concatenate(tris).astype(np.int32),
            triangle_uvs=np.concatenate(uvs).astype(np.float32),
            triangle_texture=np.concatenate(tex), triangle_object=np.concatenate(obj),
            textures=np.stack(self.textures), object_names=tuple(self.names),
            solid_ids=frozenset(self.solid), background_ids=frozenset(self.background),
            eye_region=np.asarray(eye_region, np.float64), target_region=np.asarray(target_region, np.float64),
            view_distance=tuple(map(float, view_distance)), size=size, free_box=np.asarray(free_box, np.float64),
        )


def _primitive(rng: np.random.Generator, scale: float) -> tuple[str, Part, float, float]:
    """A random upright primitive: (name, part at the origin, footprint radius, height)."""
    tile = rng.uniform(0.4, 1.0) * scale
    shape = ("box", "sphere", "cylinder", "cone", "lying_cylinder")[rng.integers(5)]
    if shape == "box":
        w, h, d = rng.uniform(0.3, 1.0, 3) * scale
        return shape, meshes.box(w, h, d, tile), 0.5 * np.hypot(w, d), h
    if shape == "sphere":
        r = rng.uniform(0.15, 0.45) * scale
        return shape, meshes.sphere(r, tile), r, 2 * r
    if shape == "cylinder":
        r, h = rng.uniform(0.15, 0.4) * scale, rng.uniform(0.3, 1.1) * scale
        return shape, meshes.cylinder(r, h, tile), r, h
    if shape == "cone":
        r, h = rng.uniform(0.2, 0.45) * scale, rng.uniform(0.4, 1.2) * scale
        return shape, meshes.cone(r, h, tile), r, h
    r, length = rng.uniform(0.12, 0.3) * scale, rng.uniform(0.6, 1.2) * scale
    # lay the cylinder on its side: rotate about z by 90 deg, then lift its axis to height r
    part = meshes.cylinder(r, length, tile).transformed(np.eye(3), [0.0, length / 2, 0.0])
    Rz = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    return shape, part.transformed(Rz, [0.0, -r, 0.0]), 0.5 * np.hypot(length, 2 * r), 2 * r


def _place_objects(b: _Builder, n: int, area_lo: np.ndarray, area_hi: np.ndarray, scale: float,
                   max_top: float, keep_out: float = 0.0) -> None:
    """Drop ``n`` primitives on the floor without overlaps (rejection sampling), stacking some on
    boxes and cylinders; ``keep_out`` keeps a disc around the origin clear (outdoor camera area)."""
    rng = b.rng
    placed: list[tuple[np.ndarray, float, float, str]] = []  # (centre xz, footprint radius, top height, shape)
    for _ in range(n):
        name, part, radius, height = _primitive(rng, scale)
        R = meshes.yaw(rng.uniform(0, 360))
        texture = b.texture()
        flat_tops = [p for p in placed if p[3] in ("box", "cylinder") and max_top - p[2] > 0.2 * scale]
        if flat_tops and rng.random() < 0.4:
            base_xz, base_r, base_top, _ = flat_tops[rng.integers(len(flat_tops))]
            # shrink the piece to sit within the base's footprint and under the height limit
            f = min(1.0, 0.9 * base_r / radius, (max_top - base_top) / height)
            part = meshes.Part(part.vertices * f, part.faces, part.uvs)
            b.add(f"{name}_{len(b.names)}", part.transformed(R, [base_xz[0], -base_top, base_xz[1]]), texture, solid=True)
            placed.append((base_xz, radius * f, base_top + height * f, name))
            continue
        if height > max_top:
            continue
        for _ in range(100):
            xz = rng.uniform(area_lo + radius, area_hi - radius)
            if np.hypot(*xz) - radius < keep_out:
                continue
            if all(np.linalg.norm(xz - p[0]) > radius + p[1] + 0.05 * scale for p in placed):
                b.add(f"{name}_{len(b.names)}", part.transformed(R, [xz[0], 0.0, xz[1]]), texture, solid=True)
                placed.append((xz, radius, height, name))
                break


def _panelled(b: _Builder, name: str, corner: np.ndarray, u_edge: np.ndarray, v_edge: np.ndarray,
              panel: float = 2.5) -> None:
    """A rectangle ``corner + a u_edge + b v_edge`` (a, b in [0, 1]) cut into panels of at most
    ``panel`` metres, each with its own texture stretched once over it.

    Repeating one texture across a whole floor makes shifted copies that feature matchers confuse
    with camera motion (SfM then fails); distinct panels keep every surface point unique.
    """
    corner, u_edge, v_edge = (np.asarray(a, np.float64) for a in (corner, u_edge, v_edge))
    nu = int(np.ceil(np.linalg.norm(u_edge) / panel))
    nv = int(np.ceil(np.linalg.norm(v_edge) / panel))
    tile = max(np.linalg.norm(u_edge) / nu, np.linalg.norm(v_edge) / nv)
    for i in range(nu):
        for j in range(nv):
            c = corner + u_edge * i / nu + v_edge * j / nv
            du, dv = u_edge / nu, v_edge / nv
            part = meshes.quad([c, c + du, c + du + dv, c + dv], tile)
            part = meshes.Part(part.vertices, part.faces, part.uvs - part.uvs.min(axis=(0, 1)))
            b.add(name, part, b.texture())


def _room(b: _Builder, seed: int) -> Scene:
    rng = b.rng
    X, Z, H = rng.uniform(4.0, 8.0), rng.uniform(4.0, 8.0), rng.uniform(2.5, 3.5)
    x, z = X / 2, Z / 2
    _panelled(b, "floor", [-x, 0, -z], [X, 0, 0], [0, 0, Z])
    _panelled(b, "wall_back", [-x, 0, z], [X, 0, 0], [0, -H, 0], panel=3.0)
    _panelled(b, "wall_front", [x, 0, -z], [-X, 0, 0], [0, -H, 0], panel=3.0)
    _panelled(b, "wall_left", [-x, 0, -z], [0, 0, Z], [0, -H, 0], panel=3.0)
    _panelled(b, "wall_right", [x, 0, z], [0, 0, -Z], [0, -H, 0], panel=3.0)
    if rng.random() < 0.7:
        _panelled(b, "ceiling", [-x, -H, -z], [X, 0, 0], [0, 0, Z], panel=3.0)
    _place_objects(b, int(rng.integers(4, 13)), np.array([-x + 0.2, -z + 0.2]), np.array([x - 0.2, z - 0.2]),
                   1.0, ROOM_OBJECT_TOP)
    eye = [[-x + 0.7, -1.8, -z + 0.7], [x - 0.7, -1.4, z - 0.7]]
    target = [[-x + 0.5, -1.2, -z + 0.5], [x - 0.5, -0.2, z - 0.5]]
    free = ([-x, -H, -z], [x, 0.0, z])
    return b.build(seed, "room", eye, target, (2.0, np.inf), float(np.linalg.norm([X, H, Z])), free)


def _outdoor(b: _Builder, seed: int) -> Scene:
    rng = b.rng
    R = 60.0
    b.add("ground", meshes.quad([[-R, 0, -R], [R, 0, -R], [R, 0, R], [-R, 0, R]], rng.uniform(1.5, 3.0)),
          b.texture("material" if rng.random() < 0.6 else None))
    b.textures.append(sky_texture(rng, TEXTURE_SIZE))
    b.add("sky", meshes.dome(R), len(b.textures) - 1, background=True)
    _place_objects(b, int(rng.integers(10, 21)), np.array([-12.0, -12.0]), np.array([12.0, 12.0]),
                   rng.uniform(2.5, 4.0), 8.0, keep_out=5.0)
    eye = [[-3.0, -2.0, -3.0], [3.0, -1.5, 3.0]]
    target = [[-11.0, -2.5, -11.0], [11.0, -0.3, 11.0]]
    free = ([-R, -R, -R], [R, 0.0, R])
    return b.build(seed, "outdoor", eye, target, (6.0, 18.0), 35.0, free)


def _object(b: _Builder, seed: int) -> Scene:
    rng = b.rng
    R = 8.0
    b.add("floor", meshes.quad([[-R, 0, -R], [R, 0, -R], [R, 0, R], [-R, 0, R]], rng.uniform(2.0, 4.0)), b.texture())
    b.add("backdrop", meshes.dome(R, repeats=6), b.texture(), background=True)
    top = 0.0
    for i in range(int(rng.integers(1, 4))):
        name, part, radius, height = _primitive(rng, 1.4 if i == 0 else 0.9)
        if i and name == "lying_cylinder":
            break
        part = part.transformed(meshes.yaw(rng.uniform(0, 360)), [0.0, -top, 0.0])
        b.add(f"{name}_{i}", part, b.texture(), solid=True)
        top += height
        if name not in ("box", "cylinder"):
            break  # only flat tops carry another piece
    eye = [[-3.0, -2.0, -3.0], [3.0, -0.5, 3.0]]
    target = [[-0.1, -0.6 * top - 0.05, -0.1], [0.1, -0.4 * top, 0.1]]
    free = ([-R, -R, -R], [R, 0.0, R])
    return b.build(seed, "object", eye, target, (2.0, 3.2), float(max(top, 1.0)), free)


def make_scene(seed: int, kind: str = "room") -> Scene:
    """A procedural textured scene, a deterministic function of ``(seed, kind)``.

    ``kind``: ``"room"`` (floor, four walls, a ceiling 70 % of the time, 4-12 boxes, spheres,
    cylinders and cones, some stacked, all turned), ``"outdoor"`` (ground, larger objects, a sky
    dome 60 m away so every pixel has a finite depth) or ``"object"`` (one object of 1-3 stacked
    pieces at the origin on a floor, inside a textured backdrop dome 8 m away, for orbits).
    """
    if kind not in KINDS:
        raise ValueError(f"make_scene: kind {kind!r} is not one of {KINDS}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"make_scene: seed must be a non-negative integer, got {seed!r}")
    rng = np.random.default_rng([int(seed), zlib.crc32(kind.encode())])
    builder = _Builder(rng)
    return {"room": _room, "outdoor": _outdoor, "object": _object}[kind](builder, int(seed))
