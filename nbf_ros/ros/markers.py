"""RViz markers of the estimated people: joints coloured by visibility, bones, track id text
and optionally the body mesh. Every marker carries a lifetime, so a person who is no longer
published vanishes from RViz by itself."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from builtin_interfaces.msg import Duration
from geometry_msgs.msg import Point, Vector3
from std_msgs.msg import ColorRGBA, Header
from visualization_msgs.msg import Marker, MarkerArray

from nbf_ros.body.joints import SMPL24_BONES, SMPL24_NAMES
from nbf_ros.estimate import HumanEstimate
from nbf_ros.overlay import STATE_RGB

__all__ = ["MARKER_NAMESPACES", "human_markers"]

MARKER_NAMESPACES = ("joints", "bones", "labels", "mesh")
_JOINT_DIAMETER = 0.05  # metres
_BONE_WIDTH = 0.02
_TEXT_HEIGHT = 0.12
_MESH_RGBA = (0.55, 0.7, 0.95, 0.6)


def _colour(state: int, alpha: float = 1.0) -> ColorRGBA:
    r, g, b = STATE_RGB[int(state)]
    return ColorRGBA(r=r / 255, g=g / 255, b=b / 255, a=alpha)


def _points(xyz: np.ndarray) -> list[Point]:
    return [Point(x=x, y=y, z=z) for x, y, z in np.asarray(xyz, dtype=np.float64).tolist()]


def _lifetime(seconds: float) -> Duration:
    sec = int(seconds)
    return Duration(sec=sec, nanosec=int(round((seconds - sec) * 1e9)))


def _marker(header: Header, ns: str, marker_id: int, kind: int, lifetime: Duration) -> Marker:
    marker = Marker(header=header, ns=ns, id=marker_id, type=kind, action=Marker.ADD,
                    lifetime=lifetime, frame_locked=False)
    marker.pose.orientation.w = 1.0
    return marker


def human_markers(estimates: Sequence[HumanEstimate], header: Header, lifetime: float,
                  meshes: Sequence[tuple[np.ndarray, np.ndarray]] | None = None
                  ) -> MarkerArray:
    """Markers of the people in ``header``'s frame; ``meshes`` gives each person's
    (vertices [V, 3], faces [F, 3]) when the body mesh is wanted."""
    life = _lifetime(lifetime)
    out = MarkerArray()
    for i, est in enumerate(estimates):
        # Marker ids are the track ids, so RViz replaces a person's markers in place.
        mid = int(est.track_id) if est.track_id else 1_000_000 + i
        joints = np.asarray(est.joints, dtype=np.float64)
        states = np.asarray(est.joint_state)

        spheres = _marker(header, "joints", mid, Marker.SPHERE_LIST, life)
        spheres.scale = Vector3(x=_JOINT_DIAMETER, y=_JOINT_DIAMETER, z=_JOINT_DIAMETER)
        spheres.points = _points(joints)
        spheres.colors = [_colour(s) for s in states]
        spheres.color = _colour(0)
        out.markers.append(spheres)

        if tuple(est.joint_names) == SMPL24_NAMES:
            bones = _marker(header, "bones", mid, Marker.LINE_LIST, life)
            bones.scale = Vector3(x=_BONE_WIDTH)
            pairs = [(parent, child) for child, parent in SMPL24_BONES]
            bones.points = _points(joints[np.array(pairs).reshape(-1)])
            # Each segment in the worse state of its two ends (per-vertex colours).
            worse = [max(states[a], states[b]) for a, b in pairs]
            bones.colors = [_colour(s) for s in worse for _ in range(2)]
            bones.color = _colour(0)
            out.markers.append(bones)

        label = _marker(header, "labels", mid, Marker.TEXT_VIEW_FACING, life)
        top = joints[np.argmin(joints[:, 1])]  # optical frame: up is -y
        label.pose.position = Point(x=float(top[0]), y=float(top[1]) - 0.25, z=float(top[2]))
        label.scale = Vector3(z=_TEXT_HEIGHT)
        label.color = ColorRGBA(r=1.0, g=0.85, b=0.1, a=1.0)
        label.text = f"id {est.track_id} ({est.confidence:.2f})"
        out.markers.append(label)

        if meshes is not None:
            verts, faces = meshes[i]
            mesh = _marker(header, "mesh", mid, Marker.TRIANGLE_LIST, life)
            mesh.scale = Vector3(x=1.0, y=1.0, z=1.0)
            mesh.points = _points(np.asarray(verts)[np.asarray(faces).reshape(-1)])
            mesh.color = ColorRGBA(r=_MESH_RGBA[0], g=_MESH_RGBA[1], b=_MESH_RGBA[2],
                                   a=_MESH_RGBA[3])
            out.markers.append(mesh)
    return out
