"""Square, rotated regions of interest: their geometry and their sampling."""

from __future__ import annotations

import numpy as np
import torch

from nbf_ros.vision.frontend.roi import Roi, rois_from_alignment, rois_from_boxes, sample_rois


def test_a_box_gives_an_upright_square_roi_on_its_centre():
    roi = rois_from_boxes(np.array([[10.0, 20.0, 50.0, 100.0]]), scale=1.25)
    np.testing.assert_allclose(roi.centre, [[30.0, 60.0]])
    np.testing.assert_allclose(roi.side, [100.0])
    np.testing.assert_allclose(roi.boxes(), [[-20.0, 10.0, 80.0, 110.0]])


def test_roi_pixels_and_image_pixels_convert_both_ways_when_rotated():
    roi = Roi(np.array([[40.0, 30.0]]), np.array([64.0]),
              np.array([[np.sin(0.4), np.cos(0.4)]]))
    uv = np.array([[[0.0, 0.0], [128.0, 256.0], [200.0, 17.0]]])
    back = roi.from_image(roi.to_image(uv, 256), 256)
    np.testing.assert_allclose(back, uv, atol=1e-9)


def test_alignment_points_give_a_roi_centred_on_the_hip_pointing_down_from_the_top():
    roi = rois_from_alignment(np.array([[100.0, 200.0]]), np.array([[130.0, 160.0]]), scale=1.25)
    np.testing.assert_allclose(roi.centre, [[100.0, 200.0]])
    np.testing.assert_allclose(roi.side, [2 * 50.0 * 1.25])
    np.testing.assert_allclose(roi.down, [[-0.6, 0.8]])


def test_sampling_a_rotated_roi_reads_the_image_where_to_image_says():
    image = torch.zeros(3, 60, 80)
    image[:, 22, 51] = 1.0  # one bright pixel, centre (51.5, 22.5)
    roi = Roi(np.array([[40.0, 30.0]]), np.array([32.0]),
              np.array([[np.sin(0.5), np.cos(0.5)]]))
    crop = sample_rois(image, roi, 32)[0, 0]
    v, u = np.unravel_index(int(crop.argmax()), crop.shape)
    at = roi.to_image(np.array([[[u + 0.5, v + 0.5]]]), 32)[0, 0]
    assert np.linalg.norm(at - [51.5, 22.5]) < 1.0
