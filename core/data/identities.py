"""Random faces from MakeHuman's identity targets, and the ARKit units carried onto each face.

Why: MeshTalk's decoder takes the speaker's neutral face as input. With one face in the corpus
that input would be a constant the network learns to ignore. So every clip gets one of many
plausible MakeHuman faces (the macro model for sex/age/build/ancestry, plus modest regional
shape changes), and its motion is the template's units deformation-transferred onto that face,
so a wider mouth opens wider and a smaller jaw moves less: the motion depends on the face.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..assets_build.eyelids import EyeLids, fit_blink, template_lids
from ..runtime.template import Template, load_template

IDENTITIES_PATH = Path(__file__).resolve().parent / "identities.npz"


def load_identity_targets(path: str | Path = IDENTITIES_PATH) -> tuple[list[str], np.ndarray]:
    """MakeHuman identity targets on the template: names ("nose/nose-scale-vert-incr", ...)
    and (N, V, 3) float32 deltas in metres. Used to make many different faces for training."""
    with np.load(path, allow_pickle=False) as data:
        return [str(s) for s in data["names"]], data["deltas"].astype(np.float32)


MACRO_FIELDS = ("gender", "age", "muscle", "weight", "african", "asian", "caucasian")
RACES = ("african", "asian", "caucasian")
# Bipolar modifiers: (negative end, positive end) name suffixes, as MakeHuman pairs them.
OPPOSITES = (("decr", "incr"), ("down", "up"), ("in", "out"), ("backward", "forward"),
             ("concave", "convex"), ("compress", "uncompress"))  # fmt: skip
TYPICAL_SHAPE_MM = 3.0  # std of one regional modifier's largest displacement
MAX_SHAPE_MM = 7.0  # no single regional modifier moves any vertex farther than this
MAX_REGIONAL_MM = 14.0  # all regional modifiers together, before the macro shape
MODIFIER_CHANCE = 0.45  # each modifier is used on a face with this chance: faces differ in kind
MIN_EFFECT_MM = 1.0  # sliders whose effect vanishes once re-centred drop out
# Where the head sits on the neck is placement, not a face: after re-centring on the face these
# only shear the neck.
PLACEMENT = ("head/head-trans-", "neck/neck-trans-")
EDGE_RATIO = (0.5, 2.0)  # plausibility: no skin edge shrinks or stretches beyond this
STRETCH = (0.6, 1.6)  # singular values of the per-vertex maps (local scale of the motion)
SMOOTHING = 2  # rounds of 1-ring averaging of the map field
UNIT_CACHE = 16  # identities whose transferred units are kept (3.2 MB each)


@dataclass(frozen=True)
class Identity:
    """One face: a weight per identity target (what the loader needs) and the seed that made
    it (to regenerate or audit it). `macro` keeps MakeHuman's slider values for reading."""

    seed: int
    coeffs: np.ndarray  # (N,) float32, one weight per load_identity_targets() name
    macro: tuple[float, ...]  # MACRO_FIELDS


@dataclass(frozen=True)
class Modifier:
    """A MakeHuman slider: value in [-1, 1] (or [0, 1] if it has no negative target)."""

    name: str
    negative: int | None  # target index used for values < 0
    positive: int  # target index used for values > 0
    reach_mm: float  # largest displacement of the positive target (after re-centring)
    mirror: str | None  # the other side's modifier name (l-/r-), sampled together


def age_value(years: float) -> float:
    """MakeHuman's age slider: 0 = 1 year, 0.1875 = 11, 0.5 = 25, 1 = 90."""
    if years < 11:
        return 0.1875 * (years - 1.0) / 10.0
    if years < 25:
        return 0.1875 + 0.3125 * (years - 11.0) / 14.0
    return 0.5 + 0.5 * (years - 25.0) / 65.0


def macro_coeffs(
    names: list[str],
    gender: float,
    age: float,
    muscle: float,
    weight: float,
    african: float,
    asian: float,
    caucasian: float,
) -> np.ndarray:
    """MakeHuman's macro model as target weights: universal-<gender>-<age>-<muscle>-<weight>
    targets weighted by the product of the four slider memberships, and <race>-<gender>-<age>
    targets by race * gender * age (race shares normalised to sum 1). Targets the asset builder
    dropped (< 0.1 mm on the head) contribute nothing."""
    g = {"female": 1.0 - gender, "male": gender}
    if age < 0.5:
        young = max(0.0, (age - 0.1875) * 3.2)
        a = {"baby": max(0.0, 1.0 - age * 5.333), "young": young, "old": 0.0}
        a["child"] = max(0.0, min(1.0, 5.333 * age) - young)
    else:
        old = max(0.0, age * 2.0 - 1.0)
        a = {"baby": 0.0, "child": 0.0, "young": 1.0 - old, "old": old}
    m = _three(muscle, "muscle")
    w = _three(weight, "weight")
    total = african + asian + caucasian
    race = {"african": african / total, "asian": asian / total, "caucasian": caucasian / total}
    index = {n: i for i, n in enumerate(names)}
    out = np.zeros(len(names))
    for gk, gv in g.items():
        for ak, av in a.items():
            for mk, mv in m.items():
                for wk, wv in w.items():
                    i = index.get(f"macrodetails/universal-{gk}-{ak}-{mk}-{wk}")
                    if i is not None:
                        out[i] += gv * av * mv * wv
            for rk, rv in race.items():
                i = index.get(f"macrodetails/{rk}-{gk}-{ak}")
                if i is not None:
                    out[i] += rv * gv * av
    return out


def _three(value: float, what: str) -> dict[str, float]:
    hi = max(0.0, value * 2.0 - 1.0)
    lo = max(0.0, 1.0 - value * 2.0)
    return {f"min{what}": lo, f"average{what}": 1.0 - hi - lo, f"max{what}": hi}


class IdentityModel:
    """Identity targets on the template, ready for fast face synthesis and unit transfer."""

    def __init__(self, template: Template, names: list[str], deltas: np.ndarray) -> None:
        self.template = template
        self.names = names
        # Body-height targets shift the whole head by up to a metre: that is not a face.
        # Re-centre every target on the eyes and brows so faces stay where the template is.
        anchor = template.region("upper_face")
        self.deltas = _teeth_follow_lips(
            template, deltas - deltas[:, anchor].mean(axis=1, keepdims=True)
        )
        self._flat = self.deltas.reshape(len(names), -1)
        self.modifiers = _modifiers(names, self.deltas)
        self._ring = _one_rings(template.faces, template.n_vertices)
        skin = template.faces[template.face_part == template.part_names.index("skin")]
        edges = np.concatenate([skin[:, [k, (k + 1) % 4]] for k in range(4)])
        self._edges = np.unique(np.sort(edges, axis=1), axis=0)
        self._skin_faces = skin
        self._lids = template_lids(template)
        self._cache: OrderedDict[bytes, np.ndarray] = OrderedDict()

    def vertices(self, coeffs: np.ndarray) -> np.ndarray:
        """(V, 3) float32 neutral face of an identity."""
        c = np.asarray(coeffs, np.float32)
        flat = self.template.vertices.reshape(-1) + c @ self._flat
        return flat.reshape(-1, 3)

    def unit_deltas(self, coeffs: np.ndarray) -> np.ndarray:
        """(52, V, 3) float32 ARKit units deformation-transferred to the identity (cached)."""
        key = np.asarray(coeffs, np.float32).tobytes()
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        vertices = self.vertices(coeffs)
        out = transfer_deltas(
            self.template.vertices, vertices, self.template.arkit_deltas,
            self.template.faces, self._ring,
        )  # fmt: skip
        if not np.array_equal(vertices, self.template.vertices):  # the template's are refit
            _refit_blinks(self.template, self._lids, vertices, out)
        out.flags.writeable = False  # shared by every caller of this face: never edited
        self._cache[key] = out
        if len(self._cache) > UNIT_CACHE:
            self._cache.popitem(last=False)
        return out

    def plausible(self, vertices: np.ndarray, reference: np.ndarray) -> bool:
        """Against `reference` (the face before the regional changes): no skin edge stretched
        or squashed beyond EDGE_RATIO, no skin face turned over. Why relative: MakeHuman's own
        macro shapes already fold a few tiny faces at the lip corners and ears, and those
        faces are what MakeHuman calls a valid human."""
        a, b = self._edges[:, 0], self._edges[:, 1]
        e0 = np.linalg.norm(reference[a] - reference[b], axis=1)
        e1 = np.linalg.norm(vertices[a] - vertices[b], axis=1)
        ratio = e1 / np.maximum(e0, 1e-9)
        if ratio.min() < EDGE_RATIO[0] or ratio.max() > EDGE_RATIO[1]:
            return False
        n0 = _face_normals(reference, self._skin_faces)
        n1 = _face_normals(vertices, self._skin_faces)
        return bool(((n0 * n1).sum(axis=1) > 0.0).all())

    def sample(self, seed: int) -> Identity:
        """A random plausible face (deterministic in `seed`)."""
        rng = np.random.default_rng(seed)
        macro = _sample_macro(rng)
        base = macro_coeffs(self.names, *macro)
        regional = np.zeros(len(self.names))
        values: dict[str, float] = {}
        seen: set[str] = set()
        for mod in self.modifiers:
            if mod.name in seen:
                continue
            seen.update((mod.name, mod.mirror or mod.name))
            if rng.random() >= MODIFIER_CHANCE:
                continue
            limit = min(1.0, MAX_SHAPE_MM / mod.reach_mm)
            v = rng.normal(0.0, min(0.5, TYPICAL_SHAPE_MM / mod.reach_mm))
            v = float(np.clip(abs(v) if mod.negative is None else v, -limit, limit))
            values[mod.name] = v
            if mod.mirror is not None:  # faces are nearly symmetric: the other side follows
                other = v + rng.normal(0.0, 0.1 * limit)
                values[mod.mirror] = float(np.clip(other, -limit, limit))
        by_name = {m.name: m for m in self.modifiers}
        for name, v in values.items():
            mod = by_name[name]
            if v > 0:
                regional[mod.positive] += v
            elif v < 0 and mod.negative is not None:
                regional[mod.negative] += -v
        reach = np.linalg.norm(np.tensordot(regional, self.deltas, 1), axis=1).max() * 1e3
        if reach > MAX_REGIONAL_MM:
            regional *= MAX_REGIONAL_MM / reach
        reference = self.vertices(base)
        for _ in range(8):  # shrink the regional part until it is sound
            if self.plausible(self.vertices(base + regional), reference):
                break
            regional *= 0.7
        else:
            regional[:] = 0.0
        coeffs = base + regional
        return Identity(seed=int(seed), coeffs=coeffs.astype(np.float32), macro=macro)


def _refit_blinks(
    template: Template, lids: dict[str, EyeLids], vertices: np.ndarray, deltas: np.ndarray
) -> None:
    """Refit each transferred eyeBlink to this face, as the asset build fitted the template's:
    the lids meet at the same weight all along, and no lid enters this face's eyeball.

    Why: the lids' travel is carried over, not the eye's opening nor its eyeball. On a face with
    wider eyes (up to 10 mm vs 7.8) the blink would stop short of closing; where the eyeball is
    larger or sits farther forward, the straight path of the lid would cut into it."""
    for side, other in (("left", "right"), ("right", "left")):
        k = template.arkit_names.index("eyeBlink" + side.title())
        deltas[k] = fit_blink(vertices, deltas[k], lids[side], [lids[other]])


def _teeth_follow_lips(template: Template, deltas: np.ndarray) -> np.ndarray:
    """Move the teeth and tongue rigidly with the lips in every target.

    Why: MakeHuman refits its teeth proxy to each body, but the targets move hm08's helper
    teeth on their own terms (head-angle-out moves them 14 mm forward and the lips 5 mm), which
    would leave lips that can no longer reach the teeth for F/V. Upper teeth follow the upper
    lip's mean motion; lower teeth and tongue (what jawOpen moves) follow the lower lip's."""
    parts = [template.part_names.index(p) for p in ("teeth", "tongue")]
    inside = np.zeros(template.n_vertices, bool)
    for f, part in zip(template.faces, template.face_part, strict=True):
        if part in parts:
            inside[f] = True
    jaw = np.linalg.norm(template.unit("jawOpen"), axis=1) > 1e-6
    out = deltas.copy()
    for moving, lip in ((inside & ~jaw, "lip_upper"), (inside & jaw, "lip_lower")):
        out[:, moving] = deltas[:, template.region(lip)].mean(axis=1, keepdims=True)
    return out


def _sample_macro(rng: np.random.Generator) -> tuple[float, ...]:
    """Adults of both sexes, 18-75 years, moderate build, any mix of MakeHuman's ancestries."""
    gender = float(np.clip(rng.normal(0.1 if rng.random() < 0.5 else 0.9, 0.12), 0.0, 1.0))
    age = age_value(float(rng.uniform(18.0, 75.0)))
    muscle = float(np.clip(rng.normal(0.5, 0.15), 0.15, 0.85))
    weight = float(np.clip(rng.normal(0.5, 0.17), 0.15, 0.85))
    if rng.random() < 0.7:  # mostly one dominant ancestry, a little of the others
        race = rng.dirichlet((0.3, 0.3, 0.3)) * 0.3
        race[rng.integers(3)] += 0.7
    else:
        race = rng.dirichlet((1.0, 1.0, 1.0))
    return (gender, age, muscle, weight, *(float(r) for r in race))


def _modifiers(names: list[str], deltas: np.ndarray) -> list[Modifier]:
    """Group the regional targets into MakeHuman-style sliders."""
    index = {n: i for i, n in enumerate(names)}
    reach = np.linalg.norm(deltas, axis=2).max(axis=1) * 1e3
    used: set[str] = set()
    mods = []
    for n in names:
        if n.startswith("macrodetails/") or n in used:
            continue
        stem, _, end = n.rpartition("-")
        pair = next((p for p in OPPOSITES if end in p), None)
        other = f"{stem}-{pair[1 - pair.index(end)]}" if pair else None
        if other in index:
            neg, pos = (n, other) if pair.index(end) == 0 else (other, n)
            used.update((neg, pos))
            name = f"{stem}-{pair[0]}|{pair[1]}"  # unique: head-trans has three axes
        else:
            neg, pos, name = None, n, n
            used.add(n)
        r = max(reach[index[pos]], reach[index[neg]] if neg else 0.0)
        if r < MIN_EFFECT_MM or any(n.startswith(p) for p in PLACEMENT):
            continue
        mods.append(Modifier(name, index.get(neg) if neg else None, index[pos], float(r), None))
    names_set = {m.name for m in mods}
    out = []
    for m in mods:
        group, _, leaf = m.name.partition("/")
        mirror = None
        for a, b in (("l-", "r-"), ("r-", "l-")):
            if leaf.startswith(a) and f"{group}/{b}{leaf[2:]}" in names_set:
                mirror = f"{group}/{b}{leaf[2:]}"
        out.append(Modifier(m.name, m.negative, m.positive, m.reach_mm, mirror))
    return out


def _one_rings(faces: np.ndarray, n: int) -> np.ndarray:
    """(V, K) neighbour indices padded with -1 (edges of the quads)."""
    nbrs: list[set[int]] = [set() for _ in range(n)]
    for f in faces.tolist():
        for k in range(4):
            nbrs[f[k]].update((f[k - 1], f[(k + 1) % 4]))
    k = max(len(s) for s in nbrs)
    ring = np.full((n, k), -1, dtype=np.int64)
    for i, s in enumerate(nbrs):
        ring[i, : len(s)] = sorted(s)
    return ring


def _face_normals(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    q = verts[faces]
    n = np.cross(q[:, 2] - q[:, 0], q[:, 3] - q[:, 1])  # quad normal from its diagonals
    return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-15)


def _vertex_normals(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    q = verts[faces]
    n = np.cross(q[:, 2] - q[:, 0], q[:, 3] - q[:, 1])
    out = np.zeros_like(verts)
    for k in range(4):
        np.add.at(out, faces[:, k], n)
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-15)


def transfer_deltas(
    base: np.ndarray,
    target: np.ndarray,
    deltas: np.ndarray,
    faces: np.ndarray,
    ring: np.ndarray | None = None,
) -> np.ndarray:
    """Carry per-vertex deltas (K, V, 3) from `base` onto `target` (same topology).

    Each vertex gets the 3x3 map A that best takes its base 1-ring edges (plus its normal,
    scaled to the ring's size, so A is defined off the surface too) to the target's, in the
    least-squares sense (stretch clamped, field smoothed); its deltas are multiplied by A.
    Local rotation, scale and shear of the face thus reach the motion (Sumner & Popovic 2004,
    per vertex). A = I when target == base.
    """
    base = np.asarray(base, np.float64)
    target = np.asarray(target, np.float64)
    ring = _one_rings(faces, len(base)) if ring is None else ring
    valid = (ring >= 0)[..., None]
    nb = np.where(ring >= 0, ring, 0)
    e0 = (base[nb] - base[:, None]) * valid  # (V, K, 3)
    e1 = (target[nb] - target[:, None]) * valid
    count = np.maximum(valid.sum(axis=1), 1)
    s0 = np.linalg.norm(e0, axis=2).sum(axis=1, keepdims=True) / count
    s1 = np.linalg.norm(e1, axis=2).sum(axis=1, keepdims=True) / count
    n0 = _vertex_normals(base, faces) * s0
    n1 = _vertex_normals(target, faces) * s1
    m = np.einsum("vki,vkj->vij", e0, e0) + n0[:, :, None] * n0[:, None, :]
    r = np.einsum("vki,vkj->vij", e1, e0) + n1[:, :, None] * n0[:, None, :]
    ridge = 1e-6 * (s0[:, 0] ** 2)[:, None, None] * np.eye(3)  # pulls A toward I if degenerate
    a = np.linalg.solve((m + ridge).transpose(0, 2, 1), (r + ridge).transpose(0, 2, 1))
    a = a.transpose(0, 2, 1)  # A = (R + ridge)(M + ridge)^-1
    # Robustness: MakeHuman's shapes fold a few tiny faces (lip corners, ear folds), where the
    # local fit explodes. Clamp each map's stretch, then smooth the map field over the rings,
    # as the unit deltas themselves are smooth. Neither changes a constant map (A = I, s*R).
    u, sv, vt = np.linalg.svd(a)
    a = u @ (np.clip(sv, *STRETCH)[..., None] * vt)
    for _ in range(SMOOTHING):
        a = (a + (a[nb] * valid[..., None]).sum(axis=1)) / (1 + count)[..., None]
    return np.einsum("vij,kvj->kvi", a, np.asarray(deltas, np.float64)).astype(np.float32)


@lru_cache(maxsize=1)
def default_model() -> IdentityModel:
    names, deltas = load_identity_targets()
    return IdentityModel(load_template(), names, deltas)


def target_names() -> list[str]:
    """Names of the identity targets, in the order of Identity.coeffs."""
    return list(default_model().names)


def sample_identity(seed: int) -> Identity:
    """A random plausible face; the same seed always gives the same face."""
    return default_model().sample(seed)


def sample_identities(n: int, seed: int = 0) -> list[Identity]:
    """`n` distinct faces with seeds derived from `seed`."""
    seeds = np.random.SeedSequence(seed).generate_state(n, dtype=np.uint32)
    return [sample_identity(int(s)) for s in seeds]


def identity_vertices(coeffs: np.ndarray) -> np.ndarray:
    """(V, 3) float32 neutral face for identity coefficients (zeros = the template)."""
    return default_model().vertices(coeffs)


def identity_unit_deltas(coeffs: np.ndarray) -> np.ndarray:
    """(52, V, 3) float32 ARKit unit deltas for the identity (cached per identity), so that
    vertices = identity_vertices(c) + weights @ identity_unit_deltas(c)."""
    return default_model().unit_deltas(coeffs)
