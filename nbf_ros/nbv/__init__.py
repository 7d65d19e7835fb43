"""Neural Body Volumes: Gaussian kernels on the body surface, their pose-dependent
features, a differentiable volume renderer and the occlusion-robust likelihood."""
