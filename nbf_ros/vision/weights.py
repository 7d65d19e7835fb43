"""Model files: a trained FeatureNet together with the kernel and clutter features it matches.

The network and the Neural Body Volume's features are learned together and only work as a
pair, so one file holds both (plus the architecture and how it was trained); the kernel
geometry comes from the volume file named inside it. Tensors only, read with
``torch.load(weights_only=True)``: loading a model file never runs code from it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import torch

from nbf_ros.body.compact import CompactBody
from nbf_ros.nbv.renderer import RenderConfig
from nbf_ros.nbv.volume import NeuralBodyVolume
from nbf_ros.paths import find_model_file
from nbf_ros.vision.network import FeatureNet, NetworkConfig
from nbf_ros.vision.turn_head import TurnHead, input_size

__all__ = ["CHOICE_ENTRIES", "CHOICE_KEYS", "DEFAULT_MODEL", "FIT_KEYS", "FORMAT",
           "SCHEDULE_KEYS", "VERSION", "fit_identity", "fit_settings", "load_model",
           "load_turn_head", "resolve_model_path", "save_model", "save_turn_head",
           "turn_head_meta", "update_model_meta"]

FORMAT = "nbf_ros.feature_model"
VERSION = 1
DEFAULT_MODEL = "nbf_anny_net.pt"
# FitConfig fields a model file may set (meta["fit"]): how far the fit should trust this
# model's features, keypoints and regressed pose (chosen by bench/fit_settings.py).
FIT_KEYS = ("match", "temperature", "occlusion_prior", "keypoint_weight", "anchor_weight",
            "feature_weight", "pose_prior_weight", "hinge_weight", "hypothesis_keypoint_weight",
            "hypothesis_turn_weight", "hypothesis_blend_temperature",
            "hypothesis_turn_prior_weight")
# Of those, what acts only after the starts are fitted (how one is kept or how they are
# blended): changing them leaves every start's fit as it was (see fit_identity).
CHOICE_KEYS = ("hypothesis_keypoint_weight", "hypothesis_turn_weight",
               "hypothesis_blend_temperature", "hypothesis_turn_prior_weight")
# Model file entries that act only in that choice too: the turn head (turn_head.py).
CHOICE_ENTRIES = ("turn_head",)
# How a cold fit steps (meta["fit"] too): a step size and coarse level tuned at one feature
# resolution overshoot at another, and the resolution is the model's (crop size / stride).
# Warm starts keep their own gentle schedule (FitConfig.tracking), so these apply to cold
# fits only; so do the turned starts (a tracked person keeps its orientation).
SCHEDULE_KEYS = ("lr", "coarse_fraction", "root_iterations", "hypotheses")


def resolve_model_path(name: str | Path) -> Path:
    """An existing path as given, else the file of that name in models/."""
    path = Path(name)
    return path if path.is_file() else find_model_file(str(name))


def save_model(path: str | Path, net: FeatureNet, volume: NeuralBodyVolume, volume_file: str,
               meta: dict[str, Any], render_opacity: float | None = None) -> None:
    """Write the network, its kernel/clutter features, the kernels' radii and rest centres
    (see nbf_ros.nbv.silhouette), the opacity to render them with, and metadata."""
    state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
    torch.save({
        "format": FORMAT, "version": VERSION, "network": net.config.to_dict(),
        "state": state, "volume_file": volume_file,
        "kernel_features": volume.features.detach().cpu(),
        "clutter": volume.clutter.detach().cpu(),
        "sigma": volume.sigma.detach().cpu(),
        "point_template": volume.body.point_template.detach().cpu(),
        "render_opacity": float(render_opacity if render_opacity is not None
                                else RenderConfig().opacity),
        "meta": meta,
    }, path)


def load_model(path: str | Path, device: str | torch.device = "cpu",
               volume_path: str | Path | None = None) -> tuple[FeatureNet, NeuralBodyVolume,
                                                               dict[str, Any]]:
    """The network (eval mode), the matching volume and the metadata of a model file
    (``meta["render_opacity"]`` is the opacity its kernels render with)."""
    path = resolve_model_path(path)
    data = _model_data(path)
    if data.get("version") != VERSION:
        raise ValueError(f"{path} has model format version {data.get('version')}; this "
                         f"nbf_ros reads version {VERSION}")
    try:
        net = FeatureNet(NetworkConfig.from_dict(data["network"]))
        net.load_state_dict(data["state"])
    except (KeyError, TypeError, RuntimeError) as err:
        raise ValueError(f"{path}: network does not match its stored architecture ({err})") \
            from err
    volume = NeuralBodyVolume.load(resolve_model_path(volume_path or data["volume_file"]))
    feats, clutter = data["kernel_features"], data["clutter"]
    if feats.shape != volume.features.shape:
        raise ValueError(f"{path}: kernel features {tuple(feats.shape)} do not fit the volume "
                         f"{tuple(volume.features.shape)}")
    body, sigma = volume.body, volume.sigma
    if "point_template" in data:  # kernels placed for this model's silhouettes
        if data["point_template"].shape != body.point_template.shape:
            raise ValueError(f"{path}: kernel centres do not fit the volume")
        state = dict(body.state())
        state["point_template"] = data["point_template"].numpy()
        body, sigma = CompactBody.from_state(state), data["sigma"]
    volume = NeuralBodyVolume(body, sigma, feats, clutter, volume.joint_kernel_weights,
                              volume.bin_width)
    meta = dict(data.get("meta", {}))
    meta["render_opacity"] = float(data.get("render_opacity", RenderConfig().opacity))
    return net.eval().to(device), volume.to(device), meta


def fit_settings(meta: dict[str, Any]) -> dict[str, Any]:
    """The fitting objective settings a model file carries (empty when none)."""
    fit = meta.get("fit") or {}
    unknown = sorted(set(fit) - set(FIT_KEYS) - set(SCHEDULE_KEYS))
    if unknown:
        raise ValueError(f"model fit settings: unknown keys {unknown}; allowed: "
                         f"{FIT_KEYS + SCHEDULE_KEYS}")
    return dict(fit)


def fit_identity(path: str | Path) -> str:
    """A hash of everything in a model file that shapes its fits: all of it but what only
    chooses among or blends the fitted starts (CHOICE_KEYS, CHOICE_ENTRIES), so that a
    cache of fits outlives re-choosing them."""
    data = torch.load(resolve_model_path(path), map_location="cpu", weights_only=True)
    if isinstance(data, dict):
        data = {k: v for k, v in data.items() if k not in CHOICE_ENTRIES}
    if isinstance(data, dict) and isinstance(data.get("meta"), dict):
        fit = {k: v for k, v in (data["meta"].get("fit") or {}).items() if k not in CHOICE_KEYS}
        data = {**data, "meta": {**data["meta"], "fit": fit}}
    digest = hashlib.sha256()
    _hash_into(digest, data)
    return digest.hexdigest()


def _hash_into(digest: Any, value: Any) -> None:  # noqa: ANN401 - hashlib object, any tree
    """Feed a tree of dicts, sequences, tensors and plain values into ``digest`` in a fixed
    order (dict keys sorted)."""
    if isinstance(value, dict):
        digest.update(b"{")
        for key in sorted(value, key=str):
            digest.update(repr(key).encode())
            _hash_into(digest, value[key])
        digest.update(b"}")
    elif isinstance(value, list | tuple):
        digest.update(b"[")
        for item in value:
            _hash_into(digest, item)
        digest.update(b"]")
    elif isinstance(value, torch.Tensor):
        t = value.detach().cpu().contiguous().reshape(-1)
        digest.update(f"{value.dtype}{tuple(value.shape)}".encode())
        digest.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    else:
        digest.update(repr(value).encode())


def update_model_meta(path: str | Path, **items: Any) -> None:
    """Set metadata entries of a model file in place (written through a temporary file)."""
    path = resolve_model_path(path)
    data = _model_data(path)
    data["meta"] = {**data.get("meta", {}), **items}
    _replace(path, data)


def save_turn_head(path: str | Path, head: TurnHead, meta: dict[str, Any]) -> None:
    """Store a turn head (and how it was trained, ``meta``) in a model file in place."""
    path = resolve_model_path(path)
    data = _model_data(path)
    data["turn_head"] = {**head.to_file(), "meta": meta}
    _replace(path, data)


def load_turn_head(path: str | Path, device: str | torch.device = "cpu") -> TurnHead | None:
    """The model file's turn head (eval mode), or None when it has none."""
    data = _model_data(resolve_model_path(path))
    stored = data.get("turn_head")
    if stored is None:
        return None
    try:
        head = TurnHead.from_file(stored)
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        raise ValueError(f"{path}: unreadable turn head ({err})") from err
    net = NetworkConfig.from_dict(data["network"])
    if head.inputs != input_size(net.feature_dim, net.num_joints, net.num_shape):
        raise ValueError(f"{path}: the turn head reads {head.inputs} inputs, not what this "
                         "network outputs")
    if head.network is not None and head.network.config != net:
        raise ValueError(f"{path}: the turn head's own network is not this model's "
                         "architecture")
    return head.to(device)


def turn_head_meta(path: str | Path) -> dict[str, Any] | None:
    """How the model file's turn head was trained (``nbf-ros turn-head``), or None."""
    stored = _model_data(resolve_model_path(path)).get("turn_head")
    return None if stored is None else dict(stored.get("meta", {}))


def _model_data(path: Path) -> dict[str, Any]:
    """A model file's raw contents (tensors only)."""
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for files that are not its own
        raise ValueError(f"{path} is not a readable nbf_ros model file ({err})") from err
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"{path} is not an nbf_ros model file")
    return data


def _replace(path: Path, data: dict[str, Any]) -> None:
    """Write a model file's contents through a temporary file, then swap it in."""
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(data, tmp)
    tmp.replace(path)
