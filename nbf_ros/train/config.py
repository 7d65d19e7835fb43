"""Training settings, read from a YAML file (``config/train.yaml``) with every key checked."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from nbf_ros.synth.scenes import SceneConfig
from nbf_ros.train.photos import AugmentConfig
from nbf_ros.vision.network import NetworkConfig

__all__ = ["ConfigError", "TrainConfig", "load_train_config"]


class ConfigError(ValueError):
    """A training configuration that cannot be used, with the reason."""


@dataclass
class LossWeights:
    """Weight of each loss term in the total."""

    contrastive: float = 1.0
    twin: float = 0.0  # the depth-twin term (losses.twin_loss); 0 leaves it out
    background: float = 0.5
    heatmaps: float = 1.0
    centre: float = 0.5
    size: float = 1.0
    regression: float = 1.0


@dataclass
class TrainConfig:
    """One training run: data, network, optimiser, losses, logging."""

    seed: int = 0  # scene i of the run is synthetic scene seed + i (after init's scenes)
    steps: int = 3500
    batch: int = 16
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup: int = 200  # linear warm-up steps, then cosine decay to 5% of lr
    device: str = "auto"  # auto (cuda if available), cpu, cuda, cuda:N
    workers: int = 1  # data-rendering processes
    # Wall-clock limit of this run (resumed runs: of this session), 0 for none. The cosine
    # decay runs by whichever is further along, steps or time, so a limited run still ends
    # at the low learning rate.
    minutes: float = 0.0
    # "clock": as above; "steps": the decay follows the steps alone and the time limit only
    # ends the session, so runs in chunks (train --minutes, then --resume) follow one schedule
    # over ``steps`` and a resumed chunk continues exactly where the last one stopped.
    decay: str = "clock"
    # Held-out readout (kernel accuracy, front/back, PCK, regression; no fits) on this many
    # clean and as many occluded test people at the end of each session, into heldout.csv:
    # the learning curve against training time. 0 leaves it out.
    heldout_people: int = 0
    temperature: float = 0.07  # InfoNCE temperature (3DNBF: 0.07)
    momentum: float = 0.9  # moving average of kernel and clutter features (3DNBF: 0.9)
    neighbour_radius: float = 0.1  # metres: kernels this close to the positive are not negatives
    heatmap_sigma: float = 1.0  # keypoint heatmap Gaussian, output cells
    log_every: int = 20
    checkpoint_every: int = 500
    calibration_scenes: int = 64  # scenes for matching the kernels' silhouettes at the end
    volume: str = "nbv_anny.npz"  # models/ file or path: kernel geometry and initial features
    mesh: str = "anny_mesh.npz"  # models/ file or path: the rendered body
    # Model file (models/ name or path) a new run starts from: its network weights and kernel
    # and clutter features, with scenes it has not seen; "" starts from scratch. A resumed
    # run ignores it (its checkpoint holds where it started).
    init: str = ""
    weights: LossWeights = field(default_factory=LossWeights)
    scene: SceneConfig = field(default_factory=SceneConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)

    def __post_init__(self) -> None:
        checks = [
            (self.steps >= 1, "steps must be >= 1"), (self.batch >= 1, "batch must be >= 1"),
            (self.lr > 0, "lr must be positive"), (self.workers >= 0, "workers must be >= 0"),
            (self.minutes >= 0, "minutes must be >= 0"),
            (self.decay in ("clock", "steps"), "decay must be clock or steps"),
            (self.heldout_people >= 0, "heldout_people must be >= 0"),
            (all(0 <= v <= 1 for v in dataclasses.asdict(self.augment).values()),
             "augment probabilities must be in [0, 1]"),
            (self.temperature > 0, "temperature must be positive"),
            (0 <= self.momentum < 1, "momentum must be in [0, 1)"),
            (self.warmup >= 0, "warmup must be >= 0"),
            (self.calibration_scenes >= 1, "calibration_scenes must be >= 1"),
            (self.heatmap_sigma > 0, "heatmap_sigma must be positive"),
            (self.neighbour_radius > 0, "neighbour_radius must be positive"),
            (min(dataclasses.asdict(self.weights).values()) >= 0, "loss weights must be >= 0"),
            (self.log_every >= 1 and self.checkpoint_every >= 1,
             "log_every and checkpoint_every must be >= 1"),
            (self.scene.height % 32 == 0 and self.scene.width % 32 == 0,
             "scene height and width must be multiples of 32"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (for checkpoints and logs)."""
        out = dataclasses.asdict(self)
        out["network"] = self.network.to_dict()
        out["scene"] = {k: list(v) if isinstance(v, tuple) else v for k, v in out["scene"].items()}
        return out


def _build(cls: type, data: dict[str, Any], where: str) -> Any:
    """A dataclass from a mapping; unknown keys and wrong types are ConfigErrors."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ConfigError(f"{where}: unknown keys {unknown}; known: {sorted(known)}")
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        default = getattr(cls(), key)
        if dataclasses.is_dataclass(default):
            kwargs[key] = _build(type(default), value, f"{where}.{key}")
        elif isinstance(default, tuple):
            # Ranges are pairs; the network's widths may have any length.
            fixed = key != "widths"
            if not isinstance(value, (list, tuple)) or (fixed and len(value) != len(default)):
                raise ConfigError(f"{where}.{key}: expected a list like {list(default)}")
            kind = type(default[0])
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                       and (kind is float or isinstance(v, int)) for v in value):
                raise ConfigError(f"{where}.{key}: expected {kind.__name__} numbers, got "
                                  f"{value!r}")
            kwargs[key] = tuple(value)
        elif isinstance(default, str):
            if not isinstance(value, str):
                raise ConfigError(f"{where}.{key}: expected a string, got {value!r}")
            kwargs[key] = value
        elif isinstance(default, bool) or default is None:
            kwargs[key] = value
        elif isinstance(default, (int, float)):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"{where}.{key}: expected a number, got {value!r}")
            if isinstance(default, int) and not isinstance(value, int):
                raise ConfigError(f"{where}.{key}: expected an integer, got {value!r}")
            kwargs[key] = type(default)(value)
        else:
            kwargs[key] = value
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{where}: {err}") from err


def load_train_config(path: str | Path, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """Read a training YAML file; ``overrides`` replace top-level keys."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"training config not found: {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err})") from err
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    data.update(overrides or {})
    return _build(TrainConfig, data, str(path))
