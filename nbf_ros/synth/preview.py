"""A picture of synthetic scenes and their ground truth: image with joint labels, kernel map."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nbf_ros.synth.scenes import Scene
from nbf_ros.synth.truth import JointLabel

__all__ = ["LABEL_COLOURS", "save_preview"]

# Marker colour of each joint label in pictures.
LABEL_COLOURS = {JointLabel.VISIBLE: "lime", JointLabel.OCCLUDED: "red",
                 JointLabel.OUTSIDE: "grey", JointLabel.SELF_OCCLUDED: "orange"}


def save_preview(scenes: list[Scene], png: str | Path, columns: int = 4) -> None:
    """PNG grid: each scene's image with its joints coloured by label, beside its kernel map
    (one colour per kernel, black where no kernel is shown)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not scenes:
        raise ValueError("no scenes to preview")
    rows = -(-len(scenes) // columns)
    fig, axes = plt.subplots(rows, 2 * columns, figsize=(2.2 * 2 * columns, 2.4 * rows),
                             squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    rng = np.random.default_rng(0)
    palette = rng.uniform(0.2, 1.0, size=(int(max(s.kernel.max() for s in scenes)) + 2, 3))
    for i, scene in enumerate(scenes):
        row, col = divmod(i, columns)
        left, right = axes[row, 2 * col], axes[row, 2 * col + 1]
        left.imshow(scene.image)
        h, w = scene.person.shape
        for person in scene.people:
            for label, colour in LABEL_COLOURS.items():
                sel = person.labels == label
                left.scatter(person.keypoints[sel, 0], person.keypoints[sel, 1], s=6, c=colour)
        left.set_xlim(0, w)
        left.set_ylim(h, 0)
        left.set_title(f"seed {scene.seed}", fontsize=7)
        kernel_rgb = np.where(scene.kernel[..., None] >= 0, palette[scene.kernel + 1], 0.0)
        right.imshow(kernel_rgb)
        right.set_title("kernel labels", fontsize=7)
    handles = [plt.Line2D([], [], marker="o", ls="", color=c, label=label.name.lower())
               for label, c in LABEL_COLOURS.items()]
    fig.legend(handles=handles, loc="lower center", ncol=4, fontsize=8)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    fig.savefig(png, dpi=90)
    plt.close(fig)
