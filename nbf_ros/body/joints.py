"""Named joint sets shared by every body model: SMPL-24 and the COCO-17 subset."""

from __future__ import annotations

# SMPL-24 joint names in SMPL's order (Loper et al., 2015); every body model outputs these.
SMPL24_NAMES: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck",
    "left_collar", "right_collar", "head", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hand", "right_hand",
)

# Parent of each SMPL-24 joint (-1 for the root), SMPL's kinematic tree.
SMPL24_PARENTS: tuple[int, ...] = (
    -1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21,
)

# Joints whose rotation the fitter optimises besides the root: the body without hands
# (hands, feet tips and face stay at rest, as 3DNBF fits SMPL's body pose only).
FITTED_JOINTS: tuple[str, ...] = tuple(
    n for n in SMPL24_NAMES[1:] if n not in ("left_hand", "right_hand", "left_foot", "right_foot")
)

# Bones drawn as the skeleton (child, parent) for markers and overlays.
SMPL24_BONES: tuple[tuple[int, int], ...] = tuple(
    (j, p) for j, p in enumerate(SMPL24_PARENTS) if p >= 0
)


def joint_index(name: str) -> int:
    """Index of a SMPL-24 joint name."""
    try:
        return SMPL24_NAMES.index(name)
    except ValueError:
        raise KeyError(f"unknown joint {name!r}; expected one of {SMPL24_NAMES}") from None
