"""Training configuration: config/train.yaml read into TrainConfig with every key checked, and
a ConfigError naming the problem for anything that cannot be used."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml

from nbf_ros.synth.scenes import SceneConfig
from nbf_ros.train.config import ConfigError, TrainConfig, load_train_config
from nbf_ros.vision.network import NetworkConfig

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "config" / "train.yaml"


def _merge(base: dict[str, Any], stated: dict[str, Any]) -> dict[str, Any]:
    """``base`` with the values of ``stated`` put in, nested mappings key by key."""
    out = dict(base)
    for key, value in stated.items():
        out[key] = _merge(base[key], value) if isinstance(value, dict) else value
    return out


def _write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_shipped_config_is_the_defaults_with_its_stated_values() -> None:
    stated = yaml.safe_load(SHIPPED.read_text())

    cfg = load_train_config(SHIPPED)

    assert cfg.to_dict() == _merge(TrainConfig().to_dict(), stated)


def test_shipped_config_builds_the_default_network_and_a_valid_scene() -> None:
    cfg = load_train_config(SHIPPED)

    assert cfg.network == NetworkConfig()
    assert isinstance(cfg.scene, SceneConfig)
    assert cfg.scene.height % 32 == 0 and cfg.scene.width % 32 == 0
    assert isinstance(cfg.scene.extra_depth, tuple)


def test_an_empty_file_gives_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing set\n")

    assert load_train_config(path) == TrainConfig()


def test_numbers_take_the_type_of_their_default(tmp_path: Path) -> None:
    cfg = load_train_config(_write(tmp_path, {"lr": 1, "temperature": 1}))

    assert isinstance(cfg.lr, float) and cfg.lr == 1.0
    assert isinstance(cfg.temperature, float)


def test_an_unknown_top_level_key_is_refused_listing_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown keys \['stepz'\]; known: .*'steps'"):
        load_train_config(_write(tmp_path, {"stepz": 10}))


def test_an_unknown_nested_key_is_refused_listing_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_train_config(_write(tmp_path, {"scene": {"height": 64, "bogus": 1}}))

    message = str(err.value)
    assert ".scene: unknown keys ['bogus']" in message
    assert all(f"'{key}'" in message for key in ("height", "width", "extra_people"))


def test_an_unknown_loss_weight_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\.weights: unknown keys \['depth'\]"):
        load_train_config(_write(tmp_path, {"weights": {"depth": 1.0}}))


@pytest.mark.parametrize(("data", "where"), [
    ({"lr": "fast"}, "lr"),
    ({"momentum": True}, "momentum"),
    ({"scene": {"height": "64"}}, "scene.height"),
    ({"weights": {"contrastive": "1.0"}}, "weights.contrastive"),
])
def test_a_non_number_where_a_number_is_expected_is_refused(
    tmp_path: Path, data: dict[str, Any], where: str
) -> None:
    with pytest.raises(ConfigError, match=rf"{where}: expected a number"):
        load_train_config(_write(tmp_path, data))


def test_a_fraction_where_an_integer_is_expected_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="steps: expected an integer, got 10.5"):
        load_train_config(_write(tmp_path, {"steps": 10.5}))


def test_a_range_of_the_wrong_length_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"scene\.focal: expected a list like"):
        load_train_config(_write(tmp_path, {"scene": {"focal": [1.0, 2.0, 3.0]}}))


def test_network_widths_may_have_any_length(tmp_path: Path) -> None:
    cfg = load_train_config(_write(tmp_path, {"network": {"widths": [8, 16, 24, 32]}}))

    assert cfg.network.widths == (8, 16, 24, 32)


@pytest.mark.parametrize(("data", "message"), [
    ({"steps": 0}, "steps must be >= 1"),
    ({"batch": 0}, "batch must be >= 1"),
    ({"lr": 0.0}, "lr must be positive"),
    ({"momentum": 1.0}, r"momentum must be in \[0, 1\)"),
    ({"momentum": -0.1}, r"momentum must be in \[0, 1\)"),
    ({"temperature": 0.0}, "temperature must be positive"),
    ({"scene": {"height": 100}}, "multiples of 32"),
    ({"scene": {"width": 48}}, "multiples of 32"),
    ({"weights": {"twin": -1.0}}, "loss weights must be >= 0"),
])
def test_invalid_values_are_refused(tmp_path: Path, data: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_train_config(_write(tmp_path, data))


def test_invalid_values_are_refused_when_built_directly() -> None:
    with pytest.raises(ConfigError, match="steps must be >= 1"):
        TrainConfig(steps=0)


def test_overrides_replace_the_files_values(tmp_path: Path) -> None:
    path = _write(tmp_path, {"steps": 100, "device": "cpu", "seed": 4})

    cfg = load_train_config(path, {"steps": 7, "device": "cuda"})

    assert (cfg.steps, cfg.device, cfg.seed) == (7, "cuda", 4)


def test_an_override_replaces_a_whole_section(tmp_path: Path) -> None:
    path = _write(tmp_path, {"scene": {"height": 64, "width": 96}})

    cfg = load_train_config(path, {"scene": {"height": 32}})

    assert (cfg.scene.height, cfg.scene.width) == (32, SceneConfig().width)


def test_overrides_are_checked_like_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="steps must be >= 1"):
        load_train_config(_write(tmp_path, {}), {"steps": 0})


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="training config not found"):
        load_train_config(tmp_path / "absent.yaml")


def test_invalid_yaml_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("steps: [1, 2\n")

    with pytest.raises(ConfigError, match="not valid YAML"):
        load_train_config(path)


def test_a_file_that_is_not_a_mapping_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="mapping at the top level"):
        load_train_config(_write(tmp_path, [1, 2, 3]))


def test_a_section_that_is_not_a_mapping_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\.scene: expected a mapping, got int"):
        load_train_config(_write(tmp_path, {"scene": 5}))


def test_config_errors_are_value_errors() -> None:
    assert issubclass(ConfigError, ValueError)


def test_to_dict_read_back_gives_the_same_config(tmp_path: Path) -> None:
    cfg = dataclasses.replace(
        TrainConfig(), steps=12, lr=1e-3,
        scene=SceneConfig(height=64, width=96, focal=(1.0, 2.0)),
        network=NetworkConfig(widths=(8, 16, 24, 32, 48), blocks=1))

    assert load_train_config(_write(tmp_path, cfg.to_dict())) == cfg
