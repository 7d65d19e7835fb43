"""rasterize: which triangle each pixel centre sees, its depth and perspective-correct
barycentrics, checked against brute-force references written here."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import Tensor

from nbf_ros.synth.raster import rasterize

WIDTH, HEIGHT = 32, 24
K = torch.tensor([[30.0, 0.0, 15.3], [0.0, 31.0, 12.2], [0.0, 0.0, 1.0]])


def lift(screen: list[tuple[float, float]], depths: list[float], k: Tensor = K) -> Tensor:
    """Camera-frame points that project to the pixel positions ``screen`` at ``depths``."""
    uv1 = torch.tensor([[u, v, 1.0] for u, v in screen], dtype=torch.float64)
    rays = uv1 @ torch.linalg.inv(k.double()).T
    return (rays * torch.tensor(depths, dtype=torch.float64)[:, None]).float()


def pixel_centres(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """x and y of every pixel centre [H, W] (pixel (u, v) has its centre at u + 0.5, v + 0.5)."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64) + 0.5
    return xs, ys


def inside_2d(tri: list[tuple[float, float]], xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Point-in-triangle by the signs of the three edge cross products (either winding)."""
    signs = []
    for (ax, ay), (bx, by) in zip(tri, tri[1:] + tri[:1], strict=True):
        signs.append((bx - ax) * (ys - ay) - (by - ay) * (xs - ax))
    s = np.stack(signs)
    return (s >= 0).all(0) | (s <= 0).all(0)


def ray_cast(vertices: np.ndarray, faces: np.ndarray, k: np.ndarray, height: int,
             width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Moller-Trumbore: for every pixel-centre ray and every triangle, the hit distance
    along the ray (z, since the ray has unit z; inf on a miss) and the smallest barycentric.

    Returns depth [H, W, F], min barycentric [H, W, F] and barycentrics [H, W, F, 3].
    """
    xs, ys = pixel_centres(height, width)
    pix = np.stack((xs, ys, np.ones_like(xs)), -1)
    d = pix @ np.linalg.inv(k).T  # [H, W, 3], d_z = 1
    v0, v1, v2 = (vertices[faces[:, i]] for i in range(3))  # [F, 3]
    e1, e2 = v1 - v0, v2 - v0
    h = np.cross(d[:, :, None, :], e2)  # [H, W, F, 3]
    a = (e1 * h).sum(-1)
    f = 1.0 / np.where(np.abs(a) < 1e-15, np.nan, a)
    s = -v0
    u = f * (s * h).sum(-1)
    q = np.cross(s, e1)  # [F, 3]
    v = f * (d[:, :, None, :] * q).sum(-1)
    t = f * (e2 * q).sum(-1)
    bary = np.stack((1 - u - v, u, v), -1)
    lowest = bary.min(-1)
    hit = (lowest >= 0) & (t > 0)
    depth = np.where(hit, t, np.inf)
    return depth, np.nan_to_num(lowest, nan=-1.0), bary


@pytest.mark.parametrize("winding", ["counter-clockwise", "clockwise"])
def test_single_triangle_covers_exactly_the_pixel_centres_inside_it(winding: str) -> None:
    screen = [(3.2, 2.7), (27.9, 6.1), (10.4, 21.3)]
    if winding == "clockwise":
        screen = screen[::-1]
    vertices = lift(screen, [2.0, 2.5, 3.0])
    raster = rasterize(vertices, torch.tensor([[0, 1, 2]]), K, HEIGHT, WIDTH)

    expected = inside_2d(screen, *pixel_centres(HEIGHT, WIDTH))
    assert expected.sum() > 100
    np.testing.assert_array_equal(raster.face.numpy() == 0, expected)
    assert (raster.face.numpy()[~expected] == -1).all()


@pytest.mark.parametrize("near_first", [True, False])
def test_the_nearer_of_two_overlapping_triangles_wins_whatever_the_face_order(
    near_first: bool,
) -> None:
    near_screen = [(2.0, 2.0), (20.0, 3.0), (6.0, 20.0)]
    far_screen = [(8.0, 4.0), (30.0, 8.0), (14.0, 23.0)]
    vertices = torch.cat((lift(near_screen, [2.0, 2.1, 2.2]), lift(far_screen, [3.0, 3.1, 2.9])))
    near_tri, far_tri = [0, 1, 2], [3, 4, 5]
    faces = torch.tensor([near_tri, far_tri] if near_first else [far_tri, near_tri])
    near_id, far_id = (0, 1) if near_first else (1, 0)
    raster = rasterize(vertices, faces, K, HEIGHT, WIDTH)

    xs, ys = pixel_centres(HEIGHT, WIDTH)
    in_near, in_far = inside_2d(near_screen, xs, ys), inside_2d(far_screen, xs, ys)
    face = raster.face.numpy()
    assert (in_near & in_far).sum() > 20
    assert (face[in_near] == near_id).all()
    assert (face[in_far & ~in_near] == far_id).all()


def test_interpolated_corners_lie_on_the_pixel_ray_at_the_returned_depth() -> None:
    # Strongly varying depth: affine (screen-space) barycentrics would be far off.
    vertices = lift([(1.3, 1.1), (30.7, 4.2), (6.6, 22.9)], [1.0, 4.0, 9.0])
    faces = torch.tensor([[0, 1, 2]])
    raster = rasterize(vertices, faces, K, HEIGHT, WIDTH)
    hit = raster.face >= 0
    assert hit.sum() > 150

    points = raster.interpolate(faces, vertices)[hit].double()  # [N, 3]
    depth = raster.depth[hit].double()
    vs, us = torch.nonzero(hit, as_tuple=True)
    rays = torch.stack((us + 0.5, vs + 0.5, torch.ones_like(us)), -1).double()
    rays = rays @ torch.linalg.inv(K.double()).T  # unit z
    torch.testing.assert_close(points[:, 2], depth, rtol=1e-4, atol=0.0)
    distance = (points - rays * depth[:, None]).norm(dim=-1)
    assert (distance / depth).max() < 1e-4
    bary = raster.bary[hit]
    assert (bary >= 0).all()
    torch.testing.assert_close(bary.sum(-1), torch.ones(len(bary)))


def test_empty_pixels_have_face_minus_one_infinite_depth_and_zero_weights() -> None:
    vertices = lift([(4.0, 4.0), (12.0, 5.0), (6.0, 14.0)], [2.0, 2.0, 2.0])
    faces = torch.tensor([[0, 1, 2]])
    raster = rasterize(vertices, faces, K, HEIGHT, WIDTH)
    empty = raster.face < 0
    assert empty.sum() > 0 and (~empty).sum() > 0

    assert (raster.face[empty] == -1).all()
    assert torch.isinf(raster.depth[empty]).all() and (raster.depth[empty] > 0).all()
    assert (raster.bary[empty] == 0).all()
    assert (raster.interpolate(faces, torch.ones(3, 2))[empty] == 0).all()
    assert torch.isfinite(raster.depth[~empty]).all()


def test_a_mesh_without_faces_leaves_every_pixel_empty() -> None:
    raster = rasterize(torch.zeros(0, 3), torch.zeros(0, 3, dtype=torch.long), K, HEIGHT, WIDTH)
    assert (raster.face == -1).all()
    assert torch.isinf(raster.depth).all()


def test_a_triangle_much_larger_than_the_image_covers_every_pixel() -> None:
    # A 300 x 200 image puts the clipped box in the 512-pixel size class.
    k = torch.tensor([[200.0, 0.0, 150.0], [0.0, 200.0, 100.0], [0.0, 0.0, 1.0]])
    vertices = lift([(-3000.0, -2000.0), (9000.0, -2500.0), (-2500.0, 8000.0)], [2.0] * 3, k)
    raster = rasterize(vertices, torch.tensor([[0, 1, 2]]), k, 200, 300)
    assert (raster.face == 0).all()
    torch.testing.assert_close(raster.depth, torch.full((200, 300), 2.0), rtol=1e-5, atol=0.0)


@pytest.mark.parametrize("corner_z", [0.01, -1.0], ids=["inside-near-plane", "behind-camera"])
def test_a_triangle_with_a_corner_behind_the_near_plane_is_dropped(corner_z: float) -> None:
    vertices = torch.tensor([[-2.0, -2.0, 2.0], [2.0, -2.0, 2.0], [0.0, 0.5, corner_z]])
    faces = torch.tensor([[0, 1, 2]])
    raster = rasterize(vertices, faces, K, HEIGHT, WIDTH, near=0.05)
    assert (raster.face == -1).all()
    # The same triangle with its corner moved in front of the near plane is drawn.
    vertices[2, 2] = 0.5
    assert (rasterize(vertices, faces, K, HEIGHT, WIDTH, near=0.05).face == 0).any()


def test_where_two_triangles_cross_each_pixel_sees_the_one_nearer_along_its_ray() -> None:
    # A wall at 3 m and a triangle sloping from 1 m to 9 m through it: the visible edge is
    # where the sloped plane's depth along each ray (not its screen-space average) reaches 3 m.
    big = [(-40.0, -40.0), (120.0, -40.0), (-40.0, 120.0)]
    sloped = [(0.5, 2.0), (31.5, 1.0), (16.0, 23.5)]
    vertices = torch.cat((lift(big, [3.0] * 3), lift(sloped, [1.0, 9.0, 5.0])))
    faces = torch.tensor([[0, 1, 2], [3, 4, 5]])
    raster = rasterize(vertices, faces, K, HEIGHT, WIDTH)
    depth, lowest, _ = ray_cast(vertices.double().numpy(), faces.numpy(), K.double().numpy(),
                                HEIGHT, WIDTH)
    assert np.isfinite(depth[..., 0]).all()
    expected = depth.argmin(-1)
    clear = (np.abs(lowest) >= 1e-4).all(-1) & (np.abs(depth[..., 1] - depth[..., 0]) > 1e-3)
    assert (expected[clear] == 0).sum() > 20 and (expected[clear] == 1).sum() > 20
    np.testing.assert_array_equal(raster.face.numpy()[clear], expected[clear])


def random_mesh(seed: int, count: int = 40) -> tuple[Tensor, Tensor]:
    """``count`` separate random triangles of 1 to 16 pixels, some partly off-screen, at
    depths 1 to 6 m with tilted (and so sometimes intersecting) planes."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform([-4.0, -4.0], [WIDTH + 4.0, HEIGHT + 4.0], size=(count, 1, 2))
    screen = centres + rng.uniform(-8.0, 8.0, size=(count, 3, 2)) * rng.uniform(
        0.1, 1.0, size=(count, 1, 1))
    depth = rng.uniform(1.0, 6.0, size=(count, 1)) * rng.uniform(0.8, 1.25, size=(count, 3))
    uv1 = np.concatenate((screen, np.ones((count, 3, 1))), -1).reshape(-1, 3)
    vertices = (uv1 @ np.linalg.inv(K.double().numpy()).T) * depth.reshape(-1, 1)
    return torch.from_numpy(vertices).float(), torch.arange(3 * count).reshape(count, 3)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_meshes_agree_with_a_brute_force_ray_caster(seed: int) -> None:
    vertices, faces = random_mesh(seed)
    raster = rasterize(vertices, faces, K, HEIGHT, WIDTH)
    depth, lowest, bary = ray_cast(vertices.double().numpy(), faces.numpy(), K.double().numpy(),
                                   HEIGHT, WIDTH)
    order = np.sort(depth, -1)
    expected = np.where(np.isinf(order[..., 0]), -1, depth.argmin(-1))
    # Leave out exact ties: pixel centres on an edge, and near-equal nearest depths.
    on_edge = (np.abs(lowest) < 1e-4).any(-1)
    with np.errstate(invalid="ignore"):  # inf - inf where no triangle is hit
        tie = np.isfinite(order[..., 1]) & (order[..., 1] - order[..., 0] < 1e-3 * order[..., 0])
    clear = ~on_edge & ~tie
    assert clear.mean() > 0.9 and (expected[clear] >= 0).sum() > 100

    face = raster.face.numpy()
    np.testing.assert_array_equal(face[clear], expected[clear])
    hit = clear & (expected >= 0)
    np.testing.assert_allclose(raster.depth.numpy()[hit], order[..., 0][hit], rtol=1e-4)
    seen = np.take_along_axis(bary, expected.clip(0)[..., None, None], 2)[:, :, 0]
    np.testing.assert_allclose(raster.bary.numpy()[hit], seen[hit], atol=1e-4)


def test_the_result_does_not_depend_on_the_chunk_size() -> None:
    vertices, faces = random_mesh(3, count=60)
    whole = rasterize(vertices, faces, K, HEIGHT, WIDTH)
    pieces = rasterize(vertices, faces, K, HEIGHT, WIDTH, chunk=16)
    torch.testing.assert_close(pieces.face, whole.face)
    torch.testing.assert_close(pieces.depth, whole.depth)
    torch.testing.assert_close(pieces.bary, whole.bary)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_and_cpu_give_the_same_raster() -> None:
    vertices, faces = random_mesh(4, count=60)
    cpu = rasterize(vertices, faces, K, HEIGHT, WIDTH)
    gpu = rasterize(vertices.cuda(), faces.cuda(), K.cuda(), HEIGHT, WIDTH)
    assert torch.equal(gpu.face.cpu(), cpu.face)
    torch.testing.assert_close(gpu.depth.cpu(), cpu.depth, rtol=1e-5, atol=0.0)
    torch.testing.assert_close(gpu.bary.cpu(), cpu.bary, rtol=0.0, atol=1e-5)
