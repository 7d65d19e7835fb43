"""Settings of the fitting loop."""

from __future__ import annotations

from dataclasses import dataclass, field

from nbf_ros.nbv.renderer import RenderConfig

__all__ = ["MAX_HYPOTHESES", "FitConfig"]

MAX_HYPOTHESES = 16  # starts per body; each costs a body's share of every step


@dataclass
class FitConfig:
    """How one frame's fit runs. 3DNBF's offline settings for comparison: 120 Adam steps
    (40 root-only, 80 full), lr 0.02, an 80 x 80 render, 10 kernels per pixel, two
    hypotheses under heavy occlusion, no warm start."""

    iterations: int = 120  # cap on Adam steps per frame (a cold start; see tracking())
    root_iterations: int = 15  # first steps move only the root (orientation, translation)
    lr: float = 0.04  # Adam step size (radians / metres)
    final_lr_fraction: float = 0.05  # the fine level's step size decays (cosine) to lr * this
    robust: bool = True  # occlusion model on: occluded pixels are explained by clutter
    # How a pixel's feature is compared with the render: "blend" is the cosine to the
    # rendered (weight-blended) feature, optimal at the true pose; "average" is 3DNBF's
    # weight-averaged cosine to each kernel, cheaper (scalar table lookups) but biased;
    # "posterior" is the probability the network's softmax over kernels and clutter gives
    # the rendered kernels (nbf_ros/nbv/likelihood.py).
    match: str = "blend"
    occlusion_prior: float = 0.3  # "posterior" match: chance that a body pixel is hidden
    # Soft max temperature of the robust likelihood (3DNBF: 0.1); with "posterior", the
    # softmax temperature, best the one the network was trained with (0.07).
    temperature: float = 0.1
    # Starts per body, turned evenly about its own vertical axis (2: 3DNBF's copy turned
    # 180 degrees); each is fitted and the lowest final score wins. A regressed root
    # orientation is often tens of degrees off, a basin a local fit does not leave.
    hypotheses: int = 1
    # Weight of the robust 2D keypoint term in that choice only (not in the steps): the
    # keypoint head's left and right tell apart turns the features score alike.
    hypothesis_keypoint_weight: float = 0.0
    # Weight of the squared angle (radians^2) between a fit's root and the body as given,
    # in that choice only: a square hiding the cues that tell the turns apart tips a choice
    # by score alone, while the regressed turn it starts from barely moves.
    hypothesis_turn_weight: float = 0.0
    # Above 0, a cold fit's joints are the starts' joints averaged with weights
    # softmax(-score / this) rather than the lowest score's (its state, mesh and
    # visibility stay the kept start's): the posterior mean hedges near ties between turns,
    # the cases where the choice costs most (bench/choice_bounds.py).
    hypothesis_blend_temperature: float = 0.0
    # Weight of -log p(facing azimuth) in that choice (and blend), p from the model's turn
    # head (nbf_ros/vision/turn_head.py), when the fit is given it: the network's view of
    # which way the person faces, read from the whole crop and its mirror image.
    hypothesis_turn_prior_weight: float = 0.0
    coarse_fraction: float = 0.5  # share of the steps fitted at half resolution (coarse to fine)
    coarse_sigma: float = 2.0  # kernel radius multiplier at the coarse level (a wider basin)
    fit_shape: bool = False  # also fit shape coefficients
    pose_prior_weight: float = 2e-3  # L2 on local joint rotations (radians^2)
    # Knees and elbows bent sideways, backwards or past their range (squared sines; see
    # nbf_ros/body/joint_limits.py): the mirrored-limb answers a monocular fit falls into.
    hinge_weight: float = 0.0
    shape_prior_weight: float = 1e-2  # L2 on shape coefficients
    # L2 on the rotation offsets from the start (radians^2): keeps the fit at the start
    # where the image says little, e.g. when starting from a network's pose regression.
    anchor_weight: float = 0.0
    # Weight of the feature likelihood; 0 fits keypoints and priors alone (an ablation that
    # shows what the NBV features add).
    feature_weight: float = 1.0
    keypoint_weight: float = 1e-3  # robust 2D keypoint term, used when keypoints are given
    keypoint_scale: float = 4.0  # pixels: the robust term's scale (Geman-McClure)
    # A person mask (the front end's, when it runs) as the clutter model's prior on each
    # pixel, clamped to [floor, 1 - floor] (fitting/terms/person_prior.py; posterior match).
    person_prior: bool = True
    person_prior_floor: float = 0.1
    tolerance: float = 1e-5  # converged when the loss improves less than this per step
    check_every: int = 5  # steps between convergence and time-budget checks (host syncs)
    cuda_graphs: bool = True  # on CUDA, replay each step from a captured graph
    # torch.compile the step's objective: render, likelihood and their backward become a few
    # fused kernels instead of ~900 small ones. Batches are padded to a power of two, and
    # each new padded size compiles first (about 20 s on an H200, 25-50 s on 2 CPU cores),
    # so it pays in a node that runs for a while, not in one-off fits.
    compile_step: bool = False
    time_budget_ms: float | None = None  # stop at the first check past this wall time
    # Registered depth, when the fit is given it (fitting/terms/depth.py): weight of the
    # robust depth term (0: off), its scale (metres), the start's distance from the depth
    # at the keypoints, and depth clearly nearer than the body (by the margin, metres)
    # counted as occlusion.
    depth_weight: float = 1.0
    depth_scale: float = 0.1
    # Metres the rendered depth lies behind the skin: kernel centres sit inside the surface
    # they render (5 synthetic people at 2.6-4 m, true pose: median 24-40 mm).
    depth_render_offset: float = 0.03
    depth_start: bool = True
    depth_surface: float = 0.08  # metres from the body's front surface to its joints
    depth_occlusion: bool = True
    depth_occlusion_margin: float = 0.15
    # With depth, also fit shape (as fit_shape): the distance is measured, so a person
    # larger or smaller than the start's shape must be explained by shape; with shape held,
    # the image's size pulls the body nearer or farther against the depth.
    depth_shape: bool = True
    render: RenderConfig = field(default_factory=RenderConfig)

    @classmethod
    def tracking(cls, **overrides: object) -> FitConfig:
        """Settings for a warm start from the previous frame: few steps, full resolution,
        no root-only phase, smaller steps, frequent convergence checks."""
        base: dict[str, object] = dict(iterations=20, root_iterations=0, coarse_fraction=0.0,
                                       lr=0.01, check_every=5)
        base.update(overrides)
        return cls(**base)  # type: ignore[arg-type]

    @property
    def weighs_turn(self) -> bool:
        """Whether cold fits heed a turn head's density: more than one start to choose
        among, and a turn prior weight."""
        return self.hypotheses > 1 and self.hypothesis_turn_prior_weight > 0

    def __post_init__(self) -> None:
        if self.iterations < 1:
            raise ValueError(f"iterations must be >= 1, got {self.iterations}")
        if not 0 <= self.root_iterations <= self.iterations:
            raise ValueError(f"root_iterations must be in [0, iterations], got "
                             f"{self.root_iterations}")
        if not 0.0 < self.final_lr_fraction <= 1.0:
            raise ValueError(f"final_lr_fraction must be in (0, 1], got {self.final_lr_fraction}")
        if self.lr <= 0 or self.temperature <= 0:
            raise ValueError("lr and temperature must be positive")
        if self.match not in ("blend", "average", "posterior"):
            raise ValueError(f"match must be 'blend', 'average' or 'posterior', got "
                             f"{self.match!r}")
        if not 1 <= self.hypotheses <= MAX_HYPOTHESES:
            raise ValueError(f"hypotheses must be in [1, {MAX_HYPOTHESES}], got "
                             f"{self.hypotheses}")
        for name in ("hypothesis_keypoint_weight", "hypothesis_turn_weight",
                     "hypothesis_blend_temperature", "hypothesis_turn_prior_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0.0 <= self.coarse_fraction <= 1.0:
            raise ValueError(f"coarse_fraction must be in [0, 1], got {self.coarse_fraction}")
        if self.coarse_sigma < 1.0:
            raise ValueError(f"coarse_sigma must be >= 1, got {self.coarse_sigma}")
        if not 0.0 <= self.occlusion_prior < 1.0:
            raise ValueError(f"occlusion_prior must be in [0, 1), got {self.occlusion_prior}")
        if self.feature_weight < 0:
            raise ValueError(f"feature_weight must be >= 0, got {self.feature_weight}")
        if self.hinge_weight < 0:
            raise ValueError(f"hinge_weight must be >= 0, got {self.hinge_weight}")
        if self.anchor_weight < 0:
            raise ValueError(f"anchor_weight must be >= 0, got {self.anchor_weight}")
        if not 0.0 < self.person_prior_floor < 0.5:
            raise ValueError(f"person_prior_floor must be in (0, 0.5), got "
                             f"{self.person_prior_floor}")
        if self.check_every < 1:
            raise ValueError(f"check_every must be >= 1, got {self.check_every}")
        if self.depth_weight < 0 or self.depth_scale <= 0 or self.depth_occlusion_margin <= 0:
            raise ValueError("depth_weight must be >= 0, depth_scale and "
                             "depth_occlusion_margin positive")
        if self.time_budget_ms is not None and self.time_budget_ms <= 0:
            raise ValueError(f"time_budget_ms must be positive, got {self.time_budget_ms}")
