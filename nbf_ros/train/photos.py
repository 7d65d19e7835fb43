"""Real photographs behind the synthetic people, and camera-like photometric changes.

Backgrounds and occluder textures come from the example images that scikit-image ships in
its wheel (``skimage/data``; licences stated in scikit-image's ``data/_fetchers.py``: CC0
or public domain), only those that show no person: a rocket launch pad, a coffee cup, a cat,
a clock, handwriting, a printed page, bricks, grass, gravel and the Hubble deep field. The
package is in the ``train`` extra; the files are read from its folder, never downloaded.

Everything is drawn from a generator seeded by the scene's seed, so scene i of a run looks
the same in every worker and after a resume.
"""

from __future__ import annotations

import importlib.util
import io
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

__all__ = ["PHOTOS", "AugmentConfig", "augment_image", "load_photos", "photo_crop"]

PHOTOS = ("rocket.jpg", "coffee.png", "chelsea.png", "clock_motion.png", "text.png",
          "page.png", "brick.png", "grass.png", "gravel.png", "hubble_deep_field.jpg")
# Keeps scene seeds and augmentation draws apart (numpy's generator, not the scene's torch one).
_SALT = 0x5EED_A06


@dataclass
class AugmentConfig:
    """How often each change is applied to a training image (probabilities; 0 = never)."""

    photo_background: float = 0.0  # the background replaced by a crop of a photograph
    photo_occluder: float = 0.0  # the occluders' texture replaced by one
    lighting: float = 0.0  # gain, offset, gamma and colour cast of the whole image
    blur: float = 0.0  # Gaussian blur, sigma 0.4 to 1.5 px
    noise: float = 0.0  # extra sensor noise, sigma 1 to 5% of the range
    jpeg: float = 0.0  # JPEG re-encoding at quality 25 to 90

    def active(self) -> bool:
        """Whether any change can happen."""
        return max(self.photo_background, self.photo_occluder, self.lighting, self.blur,
                   self.noise, self.jpeg) > 0


def _data_folder() -> Path:
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("photo backgrounds need scikit-image's example images "
                                "(pip install -e '.[train]'), which is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


@lru_cache(maxsize=1)
def load_photos() -> tuple[np.ndarray, ...]:
    """The photographs as float32 [H, W, 3] in [0, 1] (grey ones repeated over 3 channels)."""
    folder = _data_folder()
    out = []
    for name in PHOTOS:
        path = folder / name
        if not path.is_file():
            raise FileNotFoundError(f"{path}: not in the installed scikit-image")
        out.append(np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255.0)
    return tuple(out)


def photo_crop(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A random crop of a random photograph, resized to [height, width, 3], tinted at times."""
    photos = load_photos()
    photo = photos[int(rng.integers(len(photos)))]
    ph, pw = photo.shape[:2]
    # Crop side between a quarter of the photo and all of it (scale variety), image aspect.
    scale = rng.uniform(0.25, 1.0)
    ch = max(8, int(min(ph, pw * height / width) * scale))
    cw = max(8, int(ch * width / height))
    y0 = int(rng.integers(0, ph - ch + 1))
    x0 = int(rng.integers(0, pw - cw + 1))
    crop = Image.fromarray((photo[y0:y0 + ch, x0:x0 + cw] * 255).astype(np.uint8))
    out = np.asarray(crop.resize((width, height), Image.BILINEAR), np.float32) / 255.0
    if rng.random() < 0.5:
        out = out[:, ::-1]
    if np.ptp(out, axis=2).max() < 1e-3 or rng.random() < 0.3:  # grey photo: give it a colour
        out = out * rng.uniform(0.5, 1.2, 3).astype(np.float32)
    return np.clip(out, 0.0, 1.0)


def augment_image(image: np.ndarray, background: np.ndarray, occluder: np.ndarray,
                  cfg: AugmentConfig, seed: int) -> np.ndarray:
    """``image`` [H, W, 3] uint8 with photos put where ``background`` / ``occluder`` [H, W]
    bool are true and the photometric changes of ``cfg`` applied; deterministic in ``seed``."""
    rng = np.random.default_rng([seed, _SALT])
    h, w = image.shape[:2]
    out = image.astype(np.float32) / 255.0
    if rng.random() < cfg.photo_background:
        out = np.where(background[..., None], photo_crop(rng, h, w), out)
    if occluder.any() and rng.random() < cfg.photo_occluder:
        out = np.where(occluder[..., None], photo_crop(rng, h, w), out)
    if rng.random() < cfg.lighting:
        gain, offset = rng.uniform(0.6, 1.4), rng.uniform(-0.1, 0.1)
        gamma = rng.uniform(0.7, 1.4)
        cast = rng.uniform(0.85, 1.15, 3).astype(np.float32)
        out = np.clip(out * gain + offset, 0.0, 1.0) ** gamma * cast
    out = np.clip(out, 0.0, 1.0)
    if rng.random() < cfg.blur:
        pil = Image.fromarray((out * 255).round().astype(np.uint8))
        pil = pil.filter(ImageFilter.GaussianBlur(rng.uniform(0.4, 1.5)))
        out = np.asarray(pil, np.float32) / 255.0
    if rng.random() < cfg.noise:
        out = out + rng.normal(0.0, rng.uniform(0.01, 0.05), out.shape).astype(np.float32)
    result = (np.clip(out, 0.0, 1.0) * 255).round().astype(np.uint8)
    if rng.random() < cfg.jpeg:
        buffer = io.BytesIO()
        Image.fromarray(result).save(buffer, "JPEG", quality=int(rng.integers(25, 91)))
        result = np.array(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))
    return result
