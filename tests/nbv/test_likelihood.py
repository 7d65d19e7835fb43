"""Specification of the occlusion-robust likelihood (nbf_ros.nbv.likelihood)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from nbf_ros.nbv.likelihood import (
    clutter_similarity,
    kernel_similarity,
    likelihood,
    listed_similarity,
    posterior_likelihood,
    posterior_normaliser,
    rendered_similarity,
    similarity_table,
)


def one_pixel(fg: float, obj: float, clutter: float, robust: bool):
    """Likelihood of one pixel covered by one kernel with the given similarities."""
    weight = torch.tensor([[[fg]]])
    return likelihood(weight, torch.tensor([[[obj]]]), torch.tensor([[clutter]]), 0.1, robust)


class TestRobustness:
    def test_occluded_body_pixel_costs_nothing_with_the_occlusion_model(self):
        covered = one_pixel(1.0, obj=0.1, clutter=0.9, robust=True).score
        empty = one_pixel(0.0, obj=0.1, clutter=0.9, robust=True).score
        assert float(covered) >= float(empty)

    def test_occluded_body_pixel_costs_without_the_occlusion_model(self):
        covered = one_pixel(1.0, obj=0.1, clutter=0.9, robust=False).score
        empty = one_pixel(0.0, obj=0.1, clutter=0.9, robust=False).score
        assert float(covered) < float(empty) - 0.5

    def test_matching_body_pixel_scores_above_clutter(self):
        assert float(one_pixel(1.0, 0.9, 0.2, True).score) > 0.85

    def test_occlusion_map_marks_pixels_clutter_explains(self):
        occluded = one_pixel(1.0, obj=0.1, clutter=0.9, robust=True).occlusion
        visible = one_pixel(1.0, obj=0.9, clutter=0.1, robust=True).occlusion
        assert float(occluded) > 0.99 and float(visible) < 0.01

    def test_no_occlusion_off_the_body(self):
        assert float(one_pixel(0.0, 0.1, 0.9, True).occlusion) == 0.0


class TestSimilarity:
    def test_table_lookup_equals_direct_cosine_of_the_bin_mix(self):
        gen = torch.Generator().manual_seed(0)
        feats = F.normalize(torch.randn(2, 6, 8, generator=gen), dim=-1)  # [Bp, P, D]
        bins = F.normalize(torch.randn(5, 3, 8, generator=gen), dim=-1)  # [K, NB, D]
        weights = torch.softmax(torch.randn(4, 5, 3, generator=gen), -1)  # [B, K, NB]
        person = torch.tensor([0, 0, 1, 1])  # two hypotheses per person
        index = torch.randint(-1, 5, (4, 6, 2), generator=gen)
        gram = torch.einsum("knd,kld->knl", bins, bins)
        got = kernel_similarity(similarity_table(feats, bins), person, index, weights, gram)
        mix = F.normalize(torch.einsum("bkn,knd->bkd", weights, bins), dim=-1)
        for b in range(4):
            for p in range(6):
                for m in range(2):
                    k = int(index[b, p, m])
                    want = 0.0 if k < 0 else float(feats[person[b], p] @ mix[b, k])
                    assert abs(float(got[b, p, m]) - want) < 1e-5

    def test_similarity_has_gradient_in_the_bin_weights(self):
        bins = F.normalize(torch.randn(3, 3, 4), dim=-1)
        weights = torch.softmax(torch.randn(1, 3, 3), -1).requires_grad_()
        table = similarity_table(F.normalize(torch.randn(1, 2, 4), dim=-1), bins)
        sim = kernel_similarity(table, torch.tensor([0]), torch.tensor([[[0, 1], [2, -1]]]),
                                weights, torch.einsum("knd,kld->knl", bins, bins))
        sim.sum().backward()
        assert bool(weights.grad.abs().sum() > 0)

    def test_clutter_similarity_is_the_best_bank_match(self):
        bank = torch.eye(3)
        feats = F.normalize(torch.tensor([[[0.2, 0.9, 0.1]]]), dim=-1)
        assert float(clutter_similarity(feats, bank)) == float(feats[0, 0, 1])


class TestBlend:
    """The default match: cosine to the rendered blend of kernels and background."""

    @staticmethod
    def pixel(weights: list[float], kernels: torch.Tensor, background: torch.Tensor,
              observed: torch.Tensor) -> float:
        """rendered_similarity of one pixel listing len(weights) kernels."""
        index = torch.arange(len(weights))[None, None]
        weight = torch.tensor(weights)[None, None]
        return float(rendered_similarity(observed[None, None], torch.tensor([0]), index,
                                         weight, kernels[None], background[None, None]))

    def test_the_true_blend_scores_one_and_another_blend_less(self):
        gen = torch.Generator().manual_seed(1)
        kernels = F.normalize(torch.randn(2, 8, generator=gen), dim=-1)
        background = F.normalize(torch.randn(8, generator=gen), dim=0)
        observed = F.normalize(0.5 * kernels[0] + 0.3 * kernels[1] + 0.2 * background, dim=0)
        assert self.pixel([0.5, 0.3], kernels, background, observed) > 1 - 1e-6
        assert self.pixel([0.8, 0.0], kernels, background, observed) < 0.99

    def test_occluded_body_pixel_scores_like_an_uncovered_one(self):
        obj_covered, obj_empty, clutter = 0.1, 0.9, 0.9  # off the body obj equals clutter
        weight = torch.tensor([[[1.0]], [[0.0]]])
        lik = likelihood(weight, torch.tensor([[obj_covered], [obj_empty]]),
                         torch.tensor([[clutter], [clutter]]), robust=True)
        assert float(lik.score[0]) == float(lik.score[1])
        plain = likelihood(weight, torch.tensor([[obj_covered], [obj_empty]]),
                           torch.tensor([[clutter], [clutter]]), robust=False)
        assert float(plain.score[0]) < float(plain.score[1]) - 0.5


class TestPosterior:
    """The "posterior" match: the network's softmax over kernels and clutter."""

    kernels = torch.eye(4)[:3]  # three orthogonal kernel features in 4-D
    clutter = torch.eye(4)[3:]  # one clutter feature, orthogonal to them

    def pixel(self, observed: torch.Tensor, weight: float, kernel: int,
              occlusion_prior: float = 0.3):
        """Likelihood of one pixel covered with ``weight`` by kernel ``kernel``."""
        feats = observed[None, None]
        log_z, clutter = posterior_normaliser(feats, self.kernels[None], self.clutter, 0.1)
        index = torch.tensor([[[kernel]]])
        sim = listed_similarity(feats, torch.tensor([0]), index, self.kernels[None])
        return posterior_likelihood(torch.tensor([[[weight]]]), sim, log_z, clutter, 0.1,
                                    occlusion_prior)

    def test_kernel_and_clutter_probabilities_sum_to_one(self):
        feats = F.normalize(torch.randn(2, 5, 4, generator=torch.Generator().manual_seed(0)),
                            dim=-1)
        log_z, clutter = posterior_normaliser(feats, self.kernels.expand(2, -1, -1),
                                              self.clutter, 0.1)
        kernels = torch.exp(feats @ self.kernels.t() / 0.1 - log_z[..., None]).sum(-1)
        torch.testing.assert_close(kernels + clutter, torch.ones(2, 5))

    def test_listed_similarity_is_the_cosine_to_each_listed_kernel(self):
        feats = F.normalize(torch.tensor([[[0.6, 0.8, 0.0, 0.0]]]), dim=-1)
        sim = listed_similarity(feats, torch.tensor([0]), torch.tensor([[[1, 0, -1]]]),
                                self.kernels[None])
        torch.testing.assert_close(sim, torch.tensor([[[0.8, 0.6, 0.0]]]))

    def test_the_right_kernel_scores_above_a_wrong_one(self):
        observed = self.kernels[1]
        right = self.pixel(observed, 1.0, kernel=1).score
        wrong = self.pixel(observed, 1.0, kernel=2).score
        assert float(right) > float(wrong) + 1.0

    def test_covering_background_costs_more_than_leaving_it(self):
        background = self.clutter[0]
        covered = self.pixel(background, 1.0, kernel=0, occlusion_prior=0.0).score
        left = self.pixel(background, 0.0, kernel=0, occlusion_prior=0.0).score
        assert float(covered) < float(left) - 1.0

    def test_the_occlusion_prior_bounds_what_an_occluder_costs(self):
        occluder = self.clutter[0]
        robust = self.pixel(occluder, 1.0, kernel=0, occlusion_prior=0.3)
        plain = self.pixel(occluder, 1.0, kernel=0, occlusion_prior=0.0)
        left = self.pixel(occluder, 0.0, kernel=0).score
        assert abs(float(left - robust.score) - (-torch.log(torch.tensor(0.3)))) < 0.01
        assert float(plain.score) < float(robust.score) - 1.0
        assert float(robust.occlusion) > 0.99

    def test_a_visible_body_pixel_is_not_marked_occluded(self):
        assert float(self.pixel(self.kernels[0], 1.0, kernel=0).occlusion) < 0.01
