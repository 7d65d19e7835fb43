"""Specification of the Gaussian kernel renderer (nbf_ros.nbv.renderer)."""

from __future__ import annotations

import math

import pytest
import torch

from nbf_ros.nbv.camera import CropCamera, pixel_rays
from nbf_ros.nbv.renderer import (
    RenderConfig,
    _render_reference,
    kernel_weights,
    render,
    select_kernels,
)


def camera(batch: int = 1, size: int = 32, focal: float = 60.0,
           dtype: torch.dtype = torch.float32) -> CropCamera:
    """A square crop camera looking down +z with the principal point at the centre."""
    K = torch.tensor([[focal, 0.0, size / 2], [0.0, focal, size / 2], [0.0, 0.0, 1.0]],
                     dtype=dtype)
    return CropCamera(K.repeat(batch, 1, 1), size, size)


def dense_weights(out, num_k: int) -> torch.Tensor:  # [B, P, M] -> [B, P, K]
    """Scatter the renderer's per-pixel lists into a dense [B, P, K] table."""
    dense = out.weight.new_zeros(*out.weight.shape[:2], num_k)
    return dense.scatter_add(2, out.index.clamp_min(0), out.weight * (out.index >= 0))


def random_kernels(batch: int, num: int, seed: int, dtype=torch.float32):
    """Kernels scattered in front of the camera around 2 m."""
    gen = torch.Generator().manual_seed(seed)
    centres = torch.randn(batch, num, 3, generator=gen, dtype=dtype) * 0.15
    centres[..., 2] += 2.0
    sigma = torch.full((num,), 0.04, dtype=dtype)
    return centres, sigma


class TestSingleKernel:
    def test_weight_matches_closed_form(self):
        cfg = RenderConfig()
        cam = camera(dtype=torch.float64)
        centre = torch.tensor([[[0.03, -0.02, 2.0]]], dtype=torch.float64)
        sigma = torch.tensor([0.05], dtype=torch.float64)
        out = render(centre, sigma, cam, cfg)
        rays = pixel_rays(cam)[0]  # [P, 3]
        dist2 = torch.linalg.cross(rays, centre[0].expand_as(rays)).square().sum(-1)
        q = dist2 / sigma**2
        expected = torch.where(q < cfg.cutoff**2,
                               1.0 - torch.exp(-cfg.opacity * torch.exp(-0.5 * q)), 0.0)
        torch.testing.assert_close(dense_weights(out, 1)[0, :, 0], expected, rtol=0, atol=1e-12)

    def test_peak_is_at_the_projected_centre(self):
        cam = camera(size=33)
        centre = torch.tensor([[[0.0, 0.0, 2.0]]])  # on the optical axis: pixel (16, 16)
        out = render(centre, torch.tensor([0.05]), cam, RenderConfig())
        assert int(out.foreground[0].argmax()) == 16 * 33 + 16

    def test_kernel_behind_the_camera_renders_nothing(self):
        out = render(torch.tensor([[[0.0, 0.0, -2.0]]]), torch.tensor([0.05]), camera(),
                     RenderConfig())
        assert float(out.foreground.abs().max()) == 0.0
        assert bool((out.index == -1).all())


class TestOcclusion:
    def test_near_kernel_hides_far_kernel(self):
        centres = torch.tensor([[[0.0, 0.0, 2.0], [0.0, 0.0, 2.5]]])
        out = render(centres, torch.tensor([0.05, 0.05]), camera(size=33), RenderConfig())
        dense = dense_weights(out, 2)[0]
        centre_pixel = 16 * 33 + 16
        near, far = dense[centre_pixel]
        assert near > 0.95
        assert far < 0.01

    def test_order_does_not_depend_on_kernel_index(self):
        centres = torch.tensor([[[0.0, 0.0, 2.5], [0.0, 0.0, 2.0]]])
        out = render(centres, torch.tensor([0.05, 0.05]), camera(size=33), RenderConfig())
        far, near = dense_weights(out, 2)[0, 16 * 33 + 16]
        assert near > 0.95 and far < 0.01

    def test_coverage_never_exceeds_one(self):
        centres, sigma = random_kernels(2, 60, seed=3)
        out = render(centres, sigma, camera(2), RenderConfig())
        assert float(out.foreground.max()) <= 1.0 + 1e-5
        torch.testing.assert_close(out.foreground, out.weight.sum(-1))


class TestAgainstDenseReference:
    @pytest.mark.parametrize("dtype,atol", [(torch.float32, 1e-5), (torch.float64, 1e-12)])
    def test_windowed_top_m_equals_dense_when_m_is_large(self, dtype, atol):
        centres, sigma = random_kernels(2, 40, seed=0, dtype=dtype)
        cfg = RenderConfig(max_per_pixel=40)
        out = render(centres, sigma, camera(2, dtype=dtype), cfg)
        ref = _render_reference(centres, sigma, camera(2, dtype=dtype), cfg)
        torch.testing.assert_close(dense_weights(out, 40), ref, rtol=0, atol=atol)

    def test_expected_features_are_the_weighted_sum_of_kernel_features(self):
        centres, sigma = random_kernels(2, 40, seed=2, dtype=torch.float64)
        feats = torch.randn(2, 40, 8, dtype=torch.float64)
        cfg = RenderConfig(max_per_pixel=40)
        out = render(centres, sigma, camera(2, dtype=torch.float64), cfg)
        ref = _render_reference(centres, sigma, camera(2, dtype=torch.float64), cfg)
        torch.testing.assert_close(out.expected_features(feats), ref @ feats, rtol=0,
                                   atol=1e-12)

    def test_top_m_keeps_the_nearest_kernels(self):
        centres, sigma = random_kernels(1, 60, seed=1)
        cam = camera()
        rays = pixel_rays(cam)
        index = select_kernels(centres, sigma, cam, rays, 6, RenderConfig(max_per_pixel=3))
        full = select_kernels(centres, sigma, cam, rays, 6, RenderConfig(max_per_pixel=60))
        depth = centres[0, :, 2]
        for p in range(0, 32 * 32, 37):
            listed = [int(k) for k in full[0, p] if k >= 0]
            nearest = sorted(listed, key=lambda k: float(depth[k]))[:3]
            assert [int(k) for k in index[0, p] if k >= 0] == nearest


class TestGradients:
    def test_gradients_match_finite_differences_in_float64(self):
        centres, sigma = random_kernels(1, 6, seed=5, dtype=torch.float64)
        centres = centres * 0.3 + torch.tensor([0.0, 0.0, 1.4], dtype=torch.float64)
        cam = camera(size=12, dtype=torch.float64)
        rays = pixel_rays(cam)
        index = select_kernels(centres, sigma, cam, rays, 8, RenderConfig(max_per_pixel=6))
        probe = torch.randn(index.shape, dtype=torch.float64,
                            generator=torch.Generator().manual_seed(0))

        def f(c: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
            return (kernel_weights(c, s, rays, index, 5.0) * probe).sum()

        assert torch.autograd.gradcheck(f, (centres.requires_grad_(), sigma.requires_grad_()))

    def test_render_is_differentiable_in_the_centres(self):
        centres, sigma = random_kernels(1, 30, seed=2)
        centres.requires_grad_()
        render(centres, sigma, camera(), RenderConfig()).foreground.sum().backward()
        assert centres.grad is not None and bool(centres.grad.abs().sum() > 0)


class TestInputs:
    def test_wrong_centre_shape_is_named(self):
        with pytest.raises(ValueError, match="centres"):
            render(torch.zeros(1, 5, 2), torch.ones(5), camera(), RenderConfig())

    def test_batch_mismatch_is_named(self):
        with pytest.raises(ValueError, match="batch"):
            render(torch.zeros(2, 5, 3), torch.ones(5), camera(1), RenderConfig())

    def test_bad_config_is_rejected(self):
        with pytest.raises(ValueError, match="max_per_pixel"):
            RenderConfig(max_per_pixel=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
class TestCuda:
    def test_cpu_and_cuda_agree_on_weights_and_gradients(self):
        centres, sigma = random_kernels(3, 200, seed=4)
        cam = camera(3, size=48)
        results = []
        for dev in ("cpu", "cuda"):
            c = centres.detach().to(dev).requires_grad_()
            out = render(c, sigma.to(dev), CropCamera(cam.K.to(dev), 48, 48), RenderConfig())
            (out.foreground * torch.linspace(0, 1, 48 * 48, device=dev)).sum().backward()
            results.append((dense_weights(out, 200).cpu(), c.grad.cpu()))
        torch.testing.assert_close(results[0][0], results[1][0], rtol=0, atol=1e-5)
        torch.testing.assert_close(results[0][1], results[1][1], rtol=1e-3, atol=1e-4)


def test_single_kernel_weight_at_centre_is_total_opacity():
    cfg = RenderConfig(opacity=3.0)
    cam = camera(size=33)
    out = render(torch.tensor([[[0.0, 0.0, 2.0]]]), torch.tensor([0.05]), cam, cfg)
    # The ray through pixel (16, 16)'s centre passes the kernel centre to within ~0.5 px.
    assert float(out.foreground.max()) == pytest.approx(1 - math.exp(-3.0), abs=2e-3)
