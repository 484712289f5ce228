"""Build the bundled head as a Blender object that renders well in one click.

The mesh keeps the template's vertices in the template's order (every output mode, the Mesh
Cache and the topology check depend on it); what makes it presentable lives beside the
geometry: one cap polygon over the neck's cut (no new vertices), a Subdivision Surface
modifier, and procedural materials (Cycles and EEVEE) driven by a few point attributes
computed here from the template — so the extension ships no texture.

Why procedural: the template's eyes are 8-sided spheres whose iris and pupil faces are
octagons far too large for a human eye (pupil 22.5°, iris 45° of a 15 mm eyeball). The eye
shader ignores those faces and draws a round iris and pupil from the angle to the eye's axis,
measured on the rest positions (the `meshtalk_rest` attribute), so they stay round, sized
like a human eye's and attached to the eyeball when the eyeLook units turn it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import bpy
import numpy as np

from . import compat

MATERIAL_PREFIX = "MeshTalk_"
CAP_MATERIAL = "collar"  # the cap over the neck's cut, and the band around the neck's base
SUBDIVISION_NAME = "Subdivision"
MATERIAL_TAG = "meshtalk_head"  # custom property on the materials this module builds
MATERIAL_VERSION = 1  # bump when the node trees change: older files keep their own
REST = "meshtalk_rest"  # rest positions: texture coordinates that follow every deformation
LIPS = "meshtalk_lips"  # 1 on the lips' red, 0 elsewhere (soft edge)
MOUTH = "meshtalk_mouth"  # 1 inside the mouth
LASH = "meshtalk_lash"  # eyelash cards: 0 at the lid, 1 at the tip
GUMS = "meshtalk_gums"  # teeth: 1 on the gum side, 0 at the biting edge
ARCH = "meshtalk_arch"  # teeth: distance along the dental arch from the midline, 0..1
LIDLINE = "meshtalk_lidline"  # the lids' margins, where the lashes grow: a dark line
SOCKET = "meshtalk_socket"  # 1 on the lids' inner lining (a closed eye shows its edge)

# Viewport colours (Workbench "Material" colour, Solid mode): a clean, readable head.
COLORS = {
    "skin": (0.80, 0.60, 0.50, 1.0),
    "eyes": (0.92, 0.92, 0.90, 1.0),
    "eyelashes": (0.12, 0.09, 0.07, 1.0),
    "teeth": (0.95, 0.93, 0.85, 1.0),
    "tongue": (0.70, 0.30, 0.30, 1.0),
    # In Solid mode the template's "pupil" cap (22.5°, 5.7 mm) is the size of a human iris
    # and its "iris" ring belongs to the white; renders draw both with the eye shader.
    "iris": (0.92, 0.92, 0.90, 1.0),
    "pupil": (0.16, 0.20, 0.22, 1.0),
    CAP_MATERIAL: (0.06, 0.07, 0.09, 1.0),
}

# Linear-space colours of the procedural materials.
SKIN = (0.46, 0.25, 0.17)
SKIN_WARM = (0.44, 0.19, 0.13)  # cheeks, nose, ears: more blood under thinner skin
LIP = (0.36, 0.11, 0.09)
MOUTH_INSIDE = (0.30, 0.05, 0.05)
LINING = (0.16, 0.045, 0.04)  # the lids' wet inner surface
BROW = (0.018, 0.011, 0.007)
SCLERA = (0.70, 0.66, 0.62)
VEINY = (0.62, 0.38, 0.33)  # the sclera toward the corners of the eye
IRIS_INNER = (0.10, 0.07, 0.025)
IRIS_OUTER = (0.035, 0.065, 0.085)
LIMBUS = (0.010, 0.012, 0.014)
TOOTH = (0.78, 0.72, 0.58)
GUM = (0.50, 0.13, 0.13)
TONGUE = (0.36, 0.075, 0.065)
FABRIC = (0.018, 0.020, 0.026)
LASH_COLOUR = (0.012, 0.008, 0.006)
LASH_LINE = (0.05, 0.028, 0.02)  # the lid margin under the lashes
HAIR = (0.014, 0.009, 0.006)
LASH_CELLS = 44.0  # hairs per radian around the eye's centre (15 mm: ~0.35 mm apart)
HEAD_Y = 0.0  # the skull's centre front-to-back: the hairline is a function of the angle
# around it, as (degrees from the face, height in metres): forehead, temples, sideburns,
# above the ears, behind them, the nape
HAIRLINE = (
    (0.0, 0.232),
    (30.0, 0.229),
    (52.0, 0.214),
    (70.0, 0.200),
    (84.0, 0.150),
    (96.0, 0.168),
    (106.0, 0.176),
    (118.0, 0.140),
    (135.0, 0.105),
    (160.0, 0.080),
    (180.0, 0.074),
)
# widths of the teeth from the midline back (incisors, canine, premolars, molars), in mm
TOOTH_WIDTHS = (8.5, 6.5, 7.5, 7.0, 6.5, 10.0, 9.0)

EYE_REACH = 0.015  # the template's eyeball radius (m): what counts as near an eye

# Human-eye proportions, as angles from the eyeball's axis (the template's eye is 15 mm).
PUPIL_ANGLE = np.radians(8.5)
IRIS_ANGLE = np.radians(23.0)

COLLAR_TOP = 0.028  # metres above the neck's cut: the band that frames the cut cleanly
CREASE = 0.9  # lids, lips, teeth edges: nearly sharp under subdivision


def mesh_from_arrays(
    name: str,
    vertices: np.ndarray,
    faces: np.ndarray,
    uv: np.ndarray | None = None,
    extra: Sequence[np.ndarray] = (),
) -> bpy.types.Mesh:
    """A mesh datablock from (V,3) vertices, (F,4) quads and optional (F,4,2) corner UVs;
    `extra` polygons (any size, existing vertices) follow the quads, so the quads keep their
    indices. Extra polygons get UVs planar-projected into an unused corner of the layout."""
    polygons = [np.ascontiguousarray(faces, np.int32).ravel()]
    polygons += [np.asarray(p, np.int32) for p in extra]
    loops = np.concatenate(polygons)
    sizes = [faces.shape[1]] * len(faces) + [len(p) for p in extra]
    mesh = bpy.data.meshes.new(name)
    mesh.vertices.add(len(vertices))
    mesh.vertices.foreach_set("co", np.ascontiguousarray(vertices, np.float32).ravel())
    mesh.loops.add(len(loops))
    mesh.loops.foreach_set("vertex_index", loops)
    mesh.polygons.add(len(sizes))
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int32)
    mesh.polygons.foreach_set("loop_start", starts)
    if uv is not None:
        corners = [np.asarray(uv, np.float32).reshape(-1, 2)]
        for p in extra:
            xy = np.asarray(vertices, np.float32)[p][:, :2]
            span = np.ptp(xy, axis=0).max() or 1.0
            corners.append(0.02 + 0.1 * (xy - xy.min(0)) / span)
        layer = mesh.uv_layers.new(name="UVMap")
        layer.data.foreach_set("uv", np.concatenate(corners).ravel())
    mesh.update(calc_edges=True)
    if mesh.validate(verbose=False):
        raise ValueError(f"mesh {name!r} had invalid geometry")
    return mesh


# ---------------------------------------------------------------------------------------
# geometry facts derived from the template (no hand-picked vertex indices)


def boundary_loops(faces: np.ndarray) -> list[np.ndarray]:
    """The open edge loops of a quad mesh, each as ordered vertex indices."""
    a = faces.ravel()
    b = np.roll(faces, -1, axis=1).ravel()
    key = np.minimum(a, b).astype(np.int64) << 32 | np.maximum(a, b)
    uniq, count = np.unique(key, return_counts=True)
    once = set(uniq[count == 1].tolist())
    nxt: dict[int, int] = {}
    for u, w, k in zip(a.tolist(), b.tolist(), key.tolist(), strict=True):
        if k in once:  # the face runs u -> w; the loop's next after u is w
            nxt[u] = w
    loops, seen = [], set()
    for start in nxt:
        if start in seen:
            continue
        loop, v = [], start
        while v not in seen:
            seen.add(v)
            loop.append(v)
            v = nxt[v]
        loops.append(np.array(loop, np.int32))
    return loops


def neck_cap(template) -> np.ndarray:
    """The skin's open loop at the neck's cut, reversed so the cap faces down and outward."""
    skin = template.faces[np.asarray(template.face_part) == template.part_names.index("skin")]
    loops = boundary_loops(skin)
    lowest = min(loops, key=lambda loop: float(template.vertices[loop, 2].mean()))
    return lowest[::-1].copy()


def _vertex_rings(faces: np.ndarray, seeds: np.ndarray, n_vertices: int) -> np.ndarray:
    """Edge hops from the seed vertices over `faces` (-1 where unreachable)."""
    neighbours: dict[int, set[int]] = defaultdict(set)
    for q in faces.tolist():
        for k in range(len(q)):
            neighbours[q[k]].add(q[k - 1])
            neighbours[q[k - 1]].add(q[k])
    ring = np.full(n_vertices, -1, np.int32)
    ring[seeds] = 0
    frontier, hop = list(seeds.tolist()), 0
    while frontier:
        hop += 1
        nxt = []
        for v in frontier:
            for w in neighbours[v]:
                if ring[w] < 0:
                    ring[w] = hop
                    nxt.append(w)
        frontier = nxt
    return ring


def _uv_islands(faces: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Island id per face: faces sharing an edge with the same UVs on both sides."""
    parent = np.arange(len(faces))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    seen: dict[tuple, int] = {}
    rounded = np.round(uv, 5)
    for f, (q, corners) in enumerate(zip(faces.tolist(), rounded.tolist(), strict=True)):
        for k in range(len(q)):
            a, b, ua, ub = q[k - 1], q[k], tuple(corners[k - 1]), tuple(corners[k])
            key = (a, b, ua, ub) if a < b else (b, a, ub, ua)
            if key in seen:
                parent[find(f)] = find(seen[key])
            else:
                seen[key] = f
    return np.array([find(f) for f in range(len(faces))])


def _smoothstep(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def eye_sphere(template) -> tuple[np.ndarray, float]:
    """Centre and radius of the character's left eyeball (+x), by a least-squares sphere."""
    eye_parts = [template.material_names.index(n) for n in ("eyes", "iris", "pupil")]
    faces = template.faces[np.isin(template.face_material, eye_parts)]
    verts = np.unique(faces)
    p = template.vertices[verts].astype(np.float64)
    p = p[p[:, 0] > 0]
    a = np.c_[2 * p, np.ones(len(p))]
    sol = np.linalg.lstsq(a, (p**2).sum(1), rcond=None)[0]
    centre = sol[:3]
    return centre, float(np.sqrt(sol[3] + centre @ centre))


def skin_islands(template) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The skin's UV islands that matter: (face, mouth lining, eye sockets) as quads. The
    face is the largest island; the mouth's is the one nearest the lips; the sockets' are
    the ones nearest the eyeballs (hm08 closes the skin behind the lids and lips)."""
    v = template.vertices
    skin = np.flatnonzero(np.asarray(template.face_part) == template.part_names.index("skin"))
    island = _uv_islands(template.faces[skin], template.uv[skin])
    ids, sizes = np.unique(island, return_counts=True)
    face = ids[np.argmax(sizes)]
    centroid = {i: v[template.faces[skin[island == i]]].reshape(-1, 3).mean(0) for i in ids}
    lips = v[template.region("lips")].mean(0)
    mouth = min((i for i in ids if i != face), key=lambda i: np.linalg.norm(centroid[i] - lips))
    eye, _ = eye_sphere(template)
    sockets = [
        i
        for i in ids
        if i not in (face, mouth)
        and np.linalg.norm(np.abs(centroid[i]) - np.abs(eye)) < 2.0 * EYE_REACH
    ]
    pick = template.faces[skin]
    return pick[island == face], pick[island == mouth], pick[np.isin(island, sockets)]


def masks(template) -> dict[str, np.ndarray]:
    """Per-vertex masks for the shaders, from the template's own structure:

    - mouth: the skin's UV island that lines the mouth (hm08 has a closed mouth bag);
    - lips: edge hops outward from the mouth's seam on the face, tapered at the corners
      (hm08's loops run parallel to the lips, so a hop count traces the lips' red);
    - lash: each eyelash card's distance from the lid, 0 at the root to 1 at the tip;
    - gums: the teeth's open (root) edge, fading toward the biting edge;
    - arch: where along the dental arch a tooth vertex sits;
    - lidline: the lids' margins, darker where the lashes grow;
    - socket: the lids' inner lining (the skin's islands behind the lids)."""
    v = template.vertices
    n = len(v)
    part = np.asarray(template.face_part)
    skin = np.where(part == template.part_names.index("skin"))[0]
    face_faces, mouth_faces, socket_faces = skin_islands(template)
    mouth = np.zeros(n, np.float32)
    mouth[np.unique(mouth_faces)] = 1.0
    seam = np.intersect1d(np.unique(mouth_faces), np.unique(face_faces))
    hops = _vertex_rings(face_faces, seam, n).astype(np.float32)
    half_width = np.abs(v[seam, 0]).max()
    corner = np.clip(np.abs(v[:, 0]) / half_width, 0.0, 1.2)
    reach = 5.6 * np.sqrt(np.clip(1.0 - corner**2, 0.0, 1.0)) + 0.8  # hops of red at this x
    lips = np.where(hops >= 0, 1.0 - _smoothstep(reach - 1.2, reach + 0.4, hops), 0.0)
    lips[mouth > 0] = 1.0
    lips = lips.astype(np.float32)
    # the lash line: the lids' margins (where the face meets the sockets' lining) and one
    # ring out, a little stronger on the upper lids, where the lashes are thickest
    margin = np.intersect1d(np.unique(socket_faces), np.unique(face_faces))
    lid_hops = _vertex_rings(face_faces, margin, n)
    eye, _ = eye_sphere(template)
    side = np.where(v[:, 2] > eye[2], 1.0, 0.9)
    lidline = np.select([lid_hops == 0, lid_hops == 1], [1.0, 0.55], 0.0) * side
    lidline = lidline.astype(np.float32)
    socket = np.zeros(n, np.float32)
    socket[np.unique(socket_faces)] = 1.0
    socket[margin] = 0.5

    lash = np.zeros(n, np.float32)
    lash_faces = template.faces[part == template.part_names.index("eyelashes")]
    lash_verts = np.unique(lash_faces)
    skin_verts = np.unique(template.faces[skin])
    d = np.linalg.norm(v[lash_verts, None, :] - v[None, skin_verts, :], axis=-1).min(1)
    for card in _components(lash_faces, n):
        k = np.isin(lash_verts, card)
        lo, hi = d[k].min(), d[k].max()
        lash[lash_verts[k]] = (d[k] - lo) / max(hi - lo, 1e-6)

    gums = np.zeros(n, np.float32)
    teeth_faces = template.faces[part == template.part_names.index("teeth")]
    roots = np.concatenate(boundary_loops(teeth_faces))
    ring = _vertex_rings(teeth_faces, roots, n)
    teeth_verts = np.unique(teeth_faces)
    depth = max(int(ring[teeth_verts].max()), 1)
    gums[teeth_verts] = 1.0 - _smoothstep(0.0, depth * 0.9, ring[teeth_verts].astype(np.float32))
    arch = np.zeros(n, np.float32)
    arch[teeth_verts] = _arch_position(v[teeth_verts])
    return {
        MOUTH: mouth,
        LIPS: lips,
        LASH: lash,
        GUMS: gums,
        ARCH: arch,
        LIDLINE: lidline,
        SOCKET: socket,
    }


def _arch_position(p: np.ndarray) -> np.ndarray:
    """Arc length along the dental arch's outer surface from the midline, as a share of the
    half arch: the angle around the arch's back centre, through the outer radius there."""
    back = p[:, 1].max()
    angle = np.arctan2(np.abs(p[:, 0]), back - p[:, 1])
    radius = np.hypot(p[:, 0], p[:, 1] - back)
    edges = np.linspace(0.0, angle.max() + 1e-6, 17)
    outer = np.zeros(16)
    np.maximum.at(outer, np.digitize(angle, edges) - 1, radius)
    middle = 0.5 * (edges[1:] + edges[:-1])
    keep = outer > 0
    grid = np.linspace(0.0, edges[-1], 200)
    r = np.interp(grid, middle[keep], outer[keep])
    step = np.hypot(r[1:] * np.diff(grid), np.diff(r))
    length = np.concatenate([[0.0], np.cumsum(step)])
    return (np.interp(angle, grid, length) / length[-1]).astype(np.float32)


def _components(faces: np.ndarray, n: int) -> list[np.ndarray]:
    """Vertex sets of the connected pieces of `faces`."""
    parent = np.arange(n)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for q in faces.tolist():
        for w in q[1:]:
            parent[find(w)] = find(q[0])
    verts = np.unique(faces)
    roots = np.array([find(v) for v in verts.tolist()])
    return [verts[roots == r] for r in np.unique(roots)]


def crease_edges(template) -> np.ndarray:
    """(E, 2) vertex pairs to crease so subdivision keeps them where the cage has them: the
    lids' margins and the lips' line (else a closed eye or mouth shows a slit: the smoothed
    margins pull apart) and the teeth's biting edges (else the teeth shrink into the gums)."""
    face, mouth, sockets = skin_islands(template)
    seams = [np.intersect1d(face, mouth), np.intersect1d(face, sockets)]
    teeth = template.faces[np.asarray(template.face_part) == template.part_names.index("teeth")]
    ring = _vertex_rings(teeth, np.concatenate(boundary_loops(teeth)), len(template.vertices))
    seams.append(np.flatnonzero(ring == ring.max()))
    pairs = []
    for faces, keep in ((face, seams[0]), (face, seams[1]), (teeth, seams[2])):
        a, b = faces.ravel(), np.roll(faces, -1, axis=1).ravel()
        both = np.isin(a, keep) & np.isin(b, keep)
        pairs.append(np.stack([a[both], b[both]], 1))
    return np.unique(np.sort(np.concatenate(pairs), axis=1), axis=0)


def _add_creases(mesh: bpy.types.Mesh, template) -> None:
    edges = np.empty(len(mesh.edges) * 2, np.int32)
    mesh.edges.foreach_get("vertices", edges)
    edges = np.sort(edges.reshape(-1, 2), axis=1).astype(np.int64)
    want = crease_edges(template).astype(np.int64)
    n = len(mesh.vertices)
    value = np.isin(edges[:, 0] * n + edges[:, 1], want[:, 0] * n + want[:, 1])
    crease = mesh.attributes.get("crease_edge") or mesh.attributes.new(
        "crease_edge", "FLOAT", "EDGE"
    )
    crease.data.foreach_set("value", np.where(value, CREASE, 0.0).astype(np.float32))


def _add_attributes(mesh: bpy.types.Mesh, template) -> None:
    rest = mesh.attributes.new(REST, "FLOAT_VECTOR", "POINT")
    rest.data.foreach_set("vector", np.ascontiguousarray(template.vertices, np.float32).ravel())
    for name, values in masks(template).items():
        attr = mesh.attributes.new(name, "FLOAT", "POINT")
        attr.data.foreach_set("value", values)


# ---------------------------------------------------------------------------------------
# shader graphs


class _Graph:
    """Terse shader-node building: `node(kind, inputs, **props)` links sockets and sets values."""

    def __init__(self, mat: bpy.types.Material) -> None:
        if not mat.node_tree:  # Blender < 5 creates the tree on demand
            mat.use_nodes = True
        self.tree = mat.node_tree
        self.tree.nodes.clear()
        self.x = 0

    def node(self, kind: str, inputs: dict | None = None, **props):
        node = self.tree.nodes.new(kind)
        node.location = (self.x, 0)
        self.x += 200
        for key, value in props.items():
            setattr(node, key, value)
        for key, value in (inputs or {}).items():
            self.set(node, key, value)
        return node

    def set(self, node, key: str | int, value) -> None:
        socket = _socket(node.inputs, key)
        if isinstance(value, bpy.types.NodeSocket):
            self.tree.links.new(value, socket)
        else:
            socket.default_value = value

    def attribute(self, name: str, output: str = "Fac"):
        return self.node("ShaderNodeAttribute", attribute_name=name).outputs[output]

    def math(self, op: str, a, b=0.0, c=0.0, clamp: bool = False):
        return self.node(
            "ShaderNodeMath", {0: a, 1: b, 2: c}, operation=op, use_clamp=clamp
        ).outputs[0]

    def vmath(self, op: str, a, b=(0.0, 0.0, 0.0), output: int = 0):
        """Vector math; for SCALE, b is the (float) scale."""
        inputs = {0: a, "Scale": b} if op == "SCALE" else {0: a, 1: b}
        return self.node("ShaderNodeVectorMath", inputs, operation=op).outputs[output]

    def mix(self, fac, a, b):
        """Colour a where fac is 0, b where it is 1."""
        # by identifier: Blender 4.2 updates which sockets are enabled only when the tree is
        # evaluated, so right after data_type is set a name would find the float sockets
        sockets = {"Factor_Float": fac, "A_Color": a, "B_Color": b}
        node = self.node("ShaderNodeMix", sockets, data_type="RGBA")
        return node.outputs[2]

    def ramp(self, fac, lo: float, hi: float):
        """Smoothstep of fac from lo to hi (a Map Range node)."""
        node = self.node(
            "ShaderNodeMapRange",
            {"Value": fac, "From Min": lo, "From Max": hi},
            interpolation_type="SMOOTHSTEP",
        )
        return node.outputs[0]

    def separate(self, vector):
        return self.node("ShaderNodeSeparateXYZ", {0: vector}).outputs

    def combine(self, x, y, z):
        return self.node("ShaderNodeCombineXYZ", {0: x, 1: y, 2: z}).outputs[0]

    def noise(self, vector, scale: float, detail: float = 2.0, roughness: float = 0.5):
        node = self.node(
            "ShaderNodeTexNoise",
            {"Vector": vector, "Scale": scale, "Detail": detail, "Roughness": roughness},
        )
        return node.outputs["Fac"]

    def bump(self, height, strength: float, distance: float):
        node = self.node(
            "ShaderNodeBump", {"Height": height, "Strength": strength, "Distance": distance}
        )
        return node.outputs[0]

    def principled(self, **inputs):
        names = {k.replace("_", " "): v for k, v in inputs.items()}
        return self.node("ShaderNodeBsdfPrincipled", names).outputs[0]

    def output(self, shader) -> None:
        self.node("ShaderNodeOutputMaterial", {"Surface": shader})


def _socket(sockets, key: str | int):
    """A socket by index, identifier or name (the first enabled one of that name)."""
    if isinstance(key, int):
        return sockets[key]
    for s in sockets:
        if s.identifier == key:
            return s
    for s in sockets:
        if s.name == key and s.enabled:
            return s
    raise KeyError(f"no input {key!r} on {sockets[0].node.bl_idname if sockets else '?'}")


def _rgba(rgb: Sequence[float]) -> tuple[float, float, float, float]:
    return (*rgb, 1.0)


def _skin(g: _Graph, eye_centre: np.ndarray) -> None:
    """Skin with subsurface scattering; lips, the mouth's lining, brows and a collar band are
    painted from the point attributes and the rest positions."""
    rest = g.attribute(REST, "Vector")
    x, y, z = g.separate(rest)
    ax = g.math("ABSOLUTE", x)
    lips = g.attribute(LIPS)
    mouth = g.attribute(MOUTH)
    # blotchy variation at two scales keeps the skin from looking like plastic
    blotch = g.noise(rest, 40.0, detail=2.0)
    fine = g.noise(rest, 400.0, detail=2.0, roughness=0.6)
    base = g.mix(g.ramp(blotch, 0.3, 0.75), _rgba(SKIN), _rgba(SKIN_WARM))
    base = g.mix(g.math("MULTIPLY", lips, 0.85), base, _rgba(LIP))
    base = g.mix(mouth, base, _rgba(MOUTH_INSIDE))
    base = g.mix(g.attribute(SOCKET), base, _rgba(LINING))
    base = g.mix(g.math("MULTIPLY", g.attribute(LIDLINE), 0.85), base, _rgba(LASH_LINE))
    brow = _brow_mask(g, ax, y, z, eye_centre)
    base = g.mix(brow, base, _rgba(BROW))
    hair, strands = _hair_mask(g, rest, ax, y, z)
    base = g.mix(
        g.math("MULTIPLY", hair, g.math("MULTIPLY_ADD", strands, 0.25, 0.72)), base, _rgba(HAIR)
    )
    rough = g.math("MULTIPLY_ADD", fine, 0.12, 0.40)
    rough = g.node("ShaderNodeMix", {"Factor": lips, "A": rough, "B": 0.32}).outputs[0]
    rough = g.node("ShaderNodeMix", {"Factor": mouth, "A": rough, "B": 0.2}).outputs[0]
    rough = g.node("ShaderNodeMix", {"Factor": hair, "A": rough, "B": 0.92}).outputs[0]
    # pores only: Cycles evaluates a bump's height three times, so it stays one noise
    normal = g.bump(g.noise(rest, 2200.0, detail=0.0), 0.15, 0.0004)
    skin = g.principled(
        Base_Color=base,
        Roughness=rough,
        Subsurface_Weight=1.0,
        Subsurface_Radius=(1.0, 0.37, 0.19),
        Subsurface_Scale=0.004,
        Specular_IOR_Level=g.math("MULTIPLY_ADD", hair, -0.38, 0.45),
        Normal=normal,
    )
    collar = g.math("SUBTRACT", 1.0, g.ramp(z, COLLAR_TOP - 0.0015, COLLAR_TOP + 0.0015))
    g.output(g.node("ShaderNodeMixShader", {0: collar, 1: skin, 2: _fabric(g, rest)}).outputs[0])


def _brow_mask(g: _Graph, ax, y, z, eye_centre: np.ndarray):
    """Eyebrows above each eye: a tapered arch of short hairs, mirrored across x = 0."""
    cx, _, cz = (float(c) for c in eye_centre)
    inner, outer = cx - 0.019, cx + 0.024
    u = g.math("DIVIDE", g.math("SUBTRACT", ax, inner), outer - inner)  # 0 inner .. 1 outer
    # the arch: highest two thirds of the way out, dropping at the tail
    centre = g.math(
        "ADD",
        cz + 0.0205,
        g.math("MULTIPLY", g.math("MULTIPLY", u, g.math("SUBTRACT", 1.1, u)), 0.012),
    )
    half = g.math("MULTIPLY_ADD", u, -0.0035, 0.0062)  # 12 mm tall inside, 5 mm at the tail
    dist = g.math("DIVIDE", g.math("ABSOLUTE", g.math("SUBTRACT", z, centre)), half)
    across = g.math("SUBTRACT", 1.0, g.ramp(dist, 0.3, 1.0))
    along = g.math(  # a soft head at the nose, a tapering tail
        "MULTIPLY", g.ramp(u, -0.06, 0.18), g.math("SUBTRACT", 1.0, g.ramp(u, 0.8, 1.02))
    )
    front = g.math("SUBTRACT", 1.0, g.ramp(y, -0.05, -0.03))
    # short hairs slanting up and out: noise stretched along that direction
    slant = g.math("MULTIPLY_ADD", ax, -0.6, z)
    hairs = g.noise(
        g.combine(g.math("MULTIPLY", ax, 90.0), g.math("MULTIPLY", slant, 1100.0), y), 1.0
    )
    density = g.ramp(hairs, 0.35, 0.6)
    mask = g.math("MULTIPLY", g.math("MULTIPLY", across, along), front)
    return g.math("MULTIPLY", mask, g.math("MULTIPLY_ADD", density, 0.3, 0.65), clamp=True)


def _hair_mask(g: _Graph, rest, ax, y, z):
    """A short crop: dark where the rest position is above a hairline that runs around the
    head (a float curve over the angle from the face), with a broken, soft edge.
    Returns (coverage, strands)."""
    around = g.math("DIVIDE", g.math("ARCTAN2", ax, g.math("SUBTRACT", HEAD_Y, y)), np.pi)
    curve = g.node("ShaderNodeFloatCurve", {"Value": around})
    points = curve.mapping.curves[0].points
    for i, (angle, height) in enumerate(HAIRLINE):
        t, h = angle / 180.0, (height - 0.05) / 0.25
        if i < len(points):
            points[i].location = (t, h)
        else:
            points.new(t, h)
    curve.mapping.update()
    line = g.math("MULTIPLY_ADD", curve.outputs[0], 0.25, 0.05)
    # the edge: wavy at the centimetre scale, broken into single hairs at the millimetre one
    wavy = g.math("MULTIPLY_ADD", g.noise(rest, 90.0, detail=2.0), 0.008, -0.004)
    wisps = g.math("MULTIPLY_ADD", g.noise(rest, 1400.0, detail=1.0), 0.007, -0.0035)
    edge = g.math("ADD", g.math("SUBTRACT", z, line), g.math("ADD", wavy, wisps))
    coverage = g.ramp(edge, -0.004, 0.007)
    strands = g.noise(g.vmath("MULTIPLY", rest, (2500.0, 2500.0, 900.0)), 1.0, detail=2.0)
    return coverage, strands


def _fabric(g: _Graph, rest):
    """A dark ribbed knit: the collar band and the cap under the neck."""
    x, y, z = g.separate(rest)
    angle = g.math("ARCTAN2", x, g.math("SUBTRACT", y, 0.04))
    ribs = g.node(
        "ShaderNodeTexWave",
        {"Vector": g.combine(angle, z, 0.0), "Scale": 12.0, "Distortion": 1.5},
        wave_type="BANDS",
        bands_direction="X",
    ).outputs["Fac"]
    normal = g.bump(ribs, 0.25, 0.001)
    return g.principled(Base_Color=_rgba(FABRIC), Roughness=0.85, Normal=normal)


def _eye(g: _Graph, centre: np.ndarray, axis: np.ndarray) -> None:
    """One shader for the whole eyeball: sclera, a round iris with radial fibres and a dark
    limbal ring, a round pupil, under a clear wet coat (the cornea)."""
    rest = g.attribute(REST, "Vector")
    x, y, z = g.separate(rest)
    p = g.combine(g.math("ABSOLUTE", x), y, z)  # mirror the right eye onto the left
    d = g.vmath("NORMALIZE", g.vmath("SUBTRACT", p, _vec(centre)))
    cos = g.vmath("DOT_PRODUCT", d, _vec(axis), output=1)
    r = g.math("DIVIDE", g.math("ARCCOSINE", cos), float(IRIS_ANGLE))  # 1 at the limbus
    # radial fibres: noise fast around the axis, slow along the radius
    around = g.vmath("NORMALIZE", g.vmath("SUBTRACT", d, g.vmath("SCALE", _vec(axis), cos)))
    fibres = g.noise(
        g.vmath("ADD", g.vmath("MULTIPLY", around, (9.0, 9.0, 9.0)), g.combine(0.0, r, 0.0)),
        1.0,
        detail=4.0,
    )
    iris = g.mix(g.ramp(r, 0.35, 0.95), _rgba(IRIS_INNER), _rgba(IRIS_OUTER))
    iris = g.mix(g.math("MULTIPLY", g.ramp(fibres, 0.45, 0.75), 0.45), iris, (0.32, 0.28, 0.2, 1.0))
    iris = g.mix(g.ramp(r, 0.8, 1.0), iris, _rgba(LIMBUS))
    edge = float(PUPIL_ANGLE / IRIS_ANGLE)
    pupil = g.math("SUBTRACT", 1.0, g.ramp(r, edge - 0.025, edge + 0.025))
    iris = g.mix(pupil, iris, (0.003, 0.003, 0.003, 1.0))
    sclera = g.mix(g.math("MULTIPLY", g.ramp(r, 1.6, 4.5), 0.45), _rgba(SCLERA), _rgba(VEINY))
    colour = g.mix(g.ramp(r, 0.98, 1.06), iris, sclera)
    g.output(
        g.principled(
            Base_Color=colour,
            Roughness=0.4,
            Subsurface_Weight=0.25,
            Subsurface_Radius=(1.0, 0.45, 0.35),
            Subsurface_Scale=0.002,
            Coat_Weight=1.0,
            Coat_Roughness=0.03,
            Coat_IOR=1.376,
        )
    )


def _lashes(g: _Graph, centre: np.ndarray) -> None:
    """Eyelashes on the template's cards: one thin tapered hair per cell of a 1-D Voronoi
    along the lid (random spacing and length), long and dense on the upper lid, short and
    sparse on the lower; everything else on the card is transparent."""
    cx, _, cz = (float(c) for c in centre)
    rest = g.attribute(REST, "Vector")
    t = g.attribute(LASH)
    x, _, z = g.separate(rest)
    around = g.math(
        "ARCTAN2", g.math("SUBTRACT", z, cz), g.math("SUBTRACT", g.math("ABSOLUTE", x), cx)
    )
    upper = g.ramp(z, cz - 0.002, cz + 0.002)
    # one cell per hair (~0.45 mm apart on the lid), leaning outward toward the tip
    w = g.math("MULTIPLY_ADD", around, LASH_CELLS, g.math("MULTIPLY", t, 0.9))
    cells = g.node(
        "ShaderNodeTexVoronoi",
        {"W": w, "Scale": 1.0, "Randomness": 0.9},
        voronoi_dimensions="1D",
        feature="F1",
    )
    rand = g.separate(cells.outputs["Color"])[0]
    width = g.math("MULTIPLY_ADD", t, -0.2, 0.34)  # in cells: thick root, fine tip
    distance = g.math("DIVIDE", cells.outputs["Distance"], width)
    strand = g.math("SUBTRACT", 1.0, g.ramp(distance, 0.5, 1.0))
    length = g.math("MULTIPLY_ADD", rand, 0.45, 0.55)
    reach = g.math("MULTIPLY", g.math("MULTIPLY_ADD", upper, 0.5, 0.4), length)
    alive = g.math("SUBTRACT", 1.0, g.ramp(g.math("SUBTRACT", t, reach), -0.12, 0.0))
    # the lower lid: a third of the cells grow a hair, fainter than the upper lid's
    sparse = g.math("MAXIMUM", upper, g.math("MULTIPLY", g.ramp(rand, 0.62, 0.7), 0.7))
    hairs = g.math("MULTIPLY", g.math("MULTIPLY", strand, alive), sparse)
    root = g.math("MULTIPLY", g.math("SUBTRACT", 1.0, g.ramp(t, 0.2, 0.5)), upper)
    alpha = g.math("MAXIMUM", hairs, root, clamp=True)  # the lash line itself reads solid
    # faint shadows: the cards float up to 6 mm off the lids, and a closed eye's lashes
    # would otherwise print a dark copy of the lash line on the lower lid
    shadow = g.node("ShaderNodeLightPath").outputs["Is Shadow Ray"]
    alpha = g.math("MULTIPLY", alpha, g.math("MULTIPLY_ADD", shadow, -0.8, 1.0))
    g.output(
        g.principled(
            Base_Color=_rgba(LASH_COLOUR), Roughness=0.6, Specular_IOR_Level=0.2, Alpha=alpha
        )
    )


def _teeth(g: _Graph) -> None:
    """Ivory teeth with pink gums at the root edge and thin gaps where real teeth meet."""
    gums = g.ramp(g.attribute(GUMS), 0.45, 0.7)
    ramp = g.node("ShaderNodeValToRGB", {"Fac": g.attribute(ARCH)})
    elements = ramp.color_ramp.elements
    elements[0].position, elements[0].color = 0.0, (0.0, 0.0, 0.0, 1.0)
    elements[1].position, elements[1].color = 1.0, (0.0, 0.0, 0.0, 1.0)
    for edge in np.cumsum(TOOTH_WIDTHS)[:-1] / np.sum(TOOTH_WIDTHS):
        for offset, value in ((-0.012, 0.0), (0.0, 1.0), (0.012, 0.0)):
            element = elements.new(float(edge + offset))
            element.color = (value, value, value, 1.0)
    gap = g.math("MULTIPLY", ramp.outputs["Color"], 0.55)
    colour = g.mix(gap, _rgba(TOOTH), (0.25, 0.2, 0.14, 1.0))
    colour = g.mix(gums, colour, _rgba(GUM))
    rough = g.node("ShaderNodeMix", {"Factor": gums, "A": 0.2, "B": 0.35}).outputs[0]
    g.output(
        g.principled(
            Base_Color=colour,
            Roughness=rough,
            Subsurface_Weight=0.3,
            Subsurface_Radius=(1.0, 0.6, 0.4),
            Subsurface_Scale=0.002,
            Normal=g.bump(ramp.outputs["Color"], 0.3, 0.0005),
        )
    )


def _tongue(g: _Graph) -> None:
    """A wet tongue with papillae bumps."""
    rest = g.attribute(REST, "Vector")
    bumps = g.noise(rest, 1500.0, detail=1.0)
    blotch = g.noise(rest, 120.0, detail=2.0)
    colour = g.mix(g.math("MULTIPLY", blotch, 0.5), _rgba(TONGUE), (0.45, 0.12, 0.1, 1.0))
    g.output(
        g.principled(
            Base_Color=colour,
            Roughness=0.42,
            Subsurface_Weight=1.0,
            Subsurface_Radius=(1.0, 0.3, 0.2),
            Subsurface_Scale=0.003,
            Normal=g.bump(bumps, 0.25, 0.0004),
        )
    )


def _collar(g: _Graph) -> None:
    g.output(_fabric(g, g.attribute(REST, "Vector")))


def _vec(values) -> tuple[float, float, float]:
    return tuple(float(c) for c in values)


def _material(name: str) -> tuple[bpy.types.Material, bool]:
    """The head's material of that name if this version made it (a second head shares the
    first's look, and any edits to it), else a new one; (material, needs building)."""
    mat = bpy.data.materials.get(MATERIAL_PREFIX + name)
    if mat is not None and mat.get(MATERIAL_TAG) == MATERIAL_VERSION and mat.library is None:
        return mat, False
    mat = bpy.data.materials.new(MATERIAL_PREFIX + name)
    mat[MATERIAL_TAG] = MATERIAL_VERSION
    return mat, True


def add_materials(mesh: bpy.types.Mesh, template) -> None:
    """One material per template zone (skin, eyes, iris, ...) plus the collar, with
    procedural node trees for Cycles and EEVEE and a viewport colour for Workbench."""
    centre, _ = eye_sphere(template)
    axis = _eye_axis(template, centre)
    builders = {
        "skin": lambda g: _skin(g, centre),
        "eyes": lambda g: _eye(g, centre, axis),
        "iris": lambda g: _eye(g, centre, axis),
        "pupil": lambda g: _eye(g, centre, axis),
        "eyelashes": lambda g: _lashes(g, centre),
        "teeth": _teeth,
        "tongue": _tongue,
        CAP_MATERIAL: _collar,
    }
    for part in (*template.material_names, CAP_MATERIAL):
        mat, new = _material(part)
        if new:
            mat.diffuse_color = COLORS.get(part, (0.8, 0.8, 0.8, 1.0))
            mat.roughness = 0.5
            if part in builders:
                builders[part](_Graph(mat))
            if part == "eyelashes":  # EEVEE: alpha-hashed hairs that cast see-through shadows
                mat.surface_render_method = "DITHERED"
                mat.use_transparent_shadow = True
        mesh.materials.append(mat)
    index = np.append(np.asarray(template.face_material, np.int32), len(template.material_names))
    mesh.polygons.foreach_set("material_index", index[: len(mesh.polygons)])


def _eye_axis(template, centre: np.ndarray) -> np.ndarray:
    """Where the left eye looks at rest: from its centre through its pupil cap."""
    pupil = template.faces[template.face_material == template.material_names.index("pupil")]
    p = template.vertices[np.unique(pupil)]
    axis = p[p[:, 0] > 0].mean(0) - centre
    return axis / np.linalg.norm(axis)


def add_subdivision(obj: bpy.types.Object) -> bpy.types.Modifier:
    """Catmull-Clark, level 2 in renders. Off in the viewport: Blender's viewport depsgraph
    is what Python reads (export, tests, other tools), and those need the template's 5,084
    vertices; the viewport shows the smooth-shaded cage. Tick the modifier's monitor icon
    to see level 1 while modelling."""
    mod = obj.modifiers.get(SUBDIVISION_NAME) or obj.modifiers.new(SUBDIVISION_NAME, "SUBSURF")
    mod.levels = 1
    mod.render_levels = 2
    mod.quality = 3
    mod.uv_smooth = "PRESERVE_BOUNDARIES"
    mod.show_viewport = False
    mod.show_render = True
    return mod


def add_head_object(template, name: str = "MeshTalk Head", collection=None) -> bpy.types.Object:
    """Link a new object with the template head: the template's vertices in its order, its
    quads first (then one cap over the neck's cut), UVs, procedural materials, smooth
    shading and a Subdivision Surface modifier."""
    cap = neck_cap(template)
    mesh = mesh_from_arrays(name, template.vertices, template.faces, template.uv, extra=[cap])
    _add_attributes(mesh, template)
    _add_creases(mesh, template)
    add_materials(mesh, template)
    mesh.polygons.foreach_set("use_smooth", np.ones(len(mesh.polygons), dtype=bool))
    obj = bpy.data.objects.new(name, mesh)
    (collection or bpy.context.scene.collection).objects.link(obj)
    add_subdivision(obj)
    return obj


def add_arkit_keys(obj: bpy.types.Object, template) -> None:
    """A Basis plus the 52 ARKit units as shape keys named as ARKit names them."""
    if obj.data.shape_keys is None:
        obj.shape_key_add(name="Basis", from_mix=False)
    for name, delta in zip(template.arkit_names, template.arkit_deltas, strict=True):
        key = compat.add_shape_key(obj, name)
        key.data.foreach_set("co", (template.vertices + delta).ravel())
