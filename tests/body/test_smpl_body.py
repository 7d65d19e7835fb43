"""Specification of SMPLBody and the SMPL file tools, on synthetic SMPL-format files.

The licensed SMPL files are never available to tests; ``smpl_fixture`` writes files with
SMPL's keys, shapes, dtypes and (for the converter) chumpy-based pickling.
"""

from __future__ import annotations

import copy
import importlib.util
import math
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import smplx
import torch

from nbf_ros.body.base import barycentric_interpolate
from nbf_ros.body.joints import SMPL24_NAMES, joint_index
from nbf_ros.body.rotations import axis_angle_to_matrix
from nbf_ros.body.smpl_body import SMPLBody
from nbf_ros.body.smpl_format import (
    SMPLFormatError,
    convert_smpl_pickle,
    main,
    read_smpl_pickle,
)
from tests.body.smpl_fixture import (
    build_smpl_arrays,
    write_chumpy_style_pickle,
    write_smpl_folder,
    write_smpl_pickle,
)


def random_rotations(batch: int, degrees: float, seed: int) -> torch.Tensor:  # [B, 24, 3, 3]
    """Local rotations of ``degrees`` about a random axis at every joint."""
    gen = torch.Generator().manual_seed(seed)
    axis = torch.nn.functional.normalize(torch.randn(batch, 24, 3, generator=gen), dim=-1)
    return axis_angle_to_matrix(axis * math.radians(degrees))


def random_betas(batch: int, seed: int) -> torch.Tensor:  # [B, 10]
    """Betas drawn like SMPL's (unit normal)."""
    return torch.randn(batch, 10, generator=torch.Generator().manual_seed(seed))


def vertex_samples(
    body: SMPLBody, num: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Surface points placed exactly on random mesh vertices: faces, barycentric, vertex ids."""
    faces = body.faces.numpy()
    face_index = np.random.default_rng(seed).integers(0, len(faces), num)
    corner = np.arange(num) % 3
    return face_index, np.eye(3)[corner], faces[face_index, corner]


def surface_samples(body: SMPLBody, num: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random faces and barycentric coordinates on the body's mesh."""
    rng = np.random.default_rng(seed)
    face_index = rng.integers(0, len(body.faces), num)
    return face_index, rng.dirichlet(np.ones(3), num)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder in smplx's layout holding a synthetic neutral model."""
    root = tmp_path_factory.mktemp("smpl_models")
    write_smpl_folder(root)
    return root


@pytest.fixture(scope="module")
def body(model_dir: Path) -> SMPLBody:
    """The synthetic neutral SMPL body."""
    return SMPLBody(model_dir)


@pytest.fixture(scope="module")
def no_correctives_body(tmp_path_factory: pytest.TempPathFactory) -> SMPLBody:
    """The same body with all pose correctives (posedirs) zero."""
    arrays = build_smpl_arrays()
    arrays["posedirs"] = np.zeros_like(arrays["posedirs"])
    path = tmp_path_factory.mktemp("smpl_no_posedirs") / "model.pkl"
    return SMPLBody(write_smpl_pickle(path, arrays))


class TestSMPLBodyLoading:
    def test_loads_from_smplx_folder_layout(self, model_dir: Path) -> None:
        body = SMPLBody(model_dir, gender="neutral")
        assert body.name == "smpl-neutral"
        assert body.model_file == model_dir / "smpl" / "SMPL_NEUTRAL.pkl"

    def test_loads_from_pkl_path(self, tmp_path: Path) -> None:
        path = write_smpl_pickle(tmp_path / "my_female_model.pkl", build_smpl_arrays())
        body = SMPLBody(path, gender="female")
        assert body.name == "smpl-female"
        assert body.model_file == path

    def test_has_smpl24_joints_and_beta_shape_names(self, body: SMPLBody) -> None:
        assert body.joint_names == SMPL24_NAMES
        assert body.shape_names == tuple(f"beta{i}" for i in range(10))
        assert body.faces.dtype == torch.long

    def test_fewer_betas(self, model_dir: Path) -> None:
        body = SMPLBody(model_dir, num_betas=4)
        rot, trans = body.zero_pose(2)
        assert body(rot, trans, torch.zeros(2, 4)).vertices.shape == (2, body.num_vertices, 3)


class TestSMPLBodyForward:
    def test_cardinality(self, body: SMPLBody) -> None:
        rot, trans = body.zero_pose(3)
        out = body(rot, trans)
        assert out.vertices.shape == (3, body.num_vertices, 3)
        assert out.joints.shape == (3, 24, 3)
        assert out.rotations.shape == (3, 24, 3, 3)
        assert out.vertices.dtype == out.joints.dtype == torch.float32

    def test_zero_pose_puts_pelvis_at_origin_for_every_shape(self, body: SMPLBody) -> None:
        rot, trans = body.zero_pose(4)
        joints = body(rot, trans, random_betas(4, seed=1)).joints
        assert torch.equal(joints[:, 0], torch.zeros(4, 3))

    def test_zero_pose_equals_rest_vertices(self, body: SMPLBody) -> None:
        betas = random_betas(3, seed=2)
        rot, trans = body.zero_pose(3)
        torch.testing.assert_close(body(rot, trans, betas).vertices, body.rest_vertices(betas),
                                   atol=1e-6, rtol=0)

    def test_translation_is_the_pelvis_position(self, body: SMPLBody) -> None:
        rot, betas = random_rotations(2, 30, seed=3), random_betas(2, seed=3)
        trans = torch.tensor([[0.3, -1.2, 4.0], [-2.0, 0.1, 7.5]])
        moved = body(rot, trans, betas)
        still = body(rot, torch.zeros(2, 3), betas)
        assert torch.equal(moved.joints[:, 0], trans)
        torch.testing.assert_close(moved.joints, still.joints + trans[:, None], atol=1e-6,
                                   rtol=0)
        torch.testing.assert_close(moved.vertices, still.vertices + trans[:, None], atol=1e-6,
                                   rtol=0)

    def test_knee_bend_moves_shin_not_arms(self, body: SMPLBody) -> None:
        knee = joint_index("left_knee")
        rot, trans = body.zero_pose(1)
        bent = rot.clone()
        # +90 degrees about +X (body-left) folds the shin backwards, towards -Z.
        bent[0, knee] = axis_angle_to_matrix(torch.tensor([math.pi / 2, 0.0, 0.0]))
        rest, posed = body(rot, trans), body(bent, trans)
        moved = (posed.vertices - rest.vertices).norm(dim=-1)[0]  # [V]
        weights = body.smpl.lbs_weights
        shin = weights[:, knee] > 0.99
        arms = weights[:, joint_index("left_shoulder"):].sum(1) > 0.999
        assert moved[shin].max() > 0.3
        assert moved[arms].max() < 1e-6
        ankle = posed.joints[0, joint_index("left_ankle")]
        assert ankle[2] < posed.joints[0, knee, 2] - 0.3

    def test_betas_change_the_mesh_linearly(self, body: SMPLBody) -> None:
        b1, b2 = random_betas(1, seed=4), random_betas(1, seed=5)
        rot, trans = body.zero_pose(1)

        def verts(betas: torch.Tensor) -> torch.Tensor:
            return body(rot, trans, betas).vertices

        base = verts(torch.zeros(1, 10))
        assert (verts(b1) - base).abs().max() > 1e-3
        torch.testing.assert_close(verts(2.0 * b1 - 0.5 * b2) - base,
                                   2.0 * (verts(b1) - base) - 0.5 * (verts(b2) - base),
                                   atol=1e-5, rtol=0)

    def test_global_rotations_chain_down_the_tree(self, body: SMPLBody) -> None:
        rot = random_rotations(2, 30, seed=6)
        glob = body(rot, torch.zeros(2, 3)).rotations
        wrist, elbow = joint_index("left_wrist"), joint_index("left_elbow")
        torch.testing.assert_close(glob[:, wrist], glob[:, elbow] @ rot[:, wrist])
        torch.testing.assert_close(glob[:, 0], rot[:, 0])

    def test_gradients_reach_rotations_and_betas(self, body: SMPLBody) -> None:
        rot = random_rotations(2, 30, seed=7).requires_grad_(True)
        betas = random_betas(2, seed=7).requires_grad_(True)
        out = body(rot, torch.zeros(2, 3), betas)
        (out.vertices.square().sum() + out.joints.square().sum()).backward()
        assert rot.grad is not None and rot.grad[:, 1:].abs().sum(-1).sum(-1).min() > 0
        assert betas.grad is not None and betas.grad.abs().min() > 0

    def test_gradcheck(self, body: SMPLBody) -> None:
        body64 = copy.deepcopy(body).double()
        rot = random_rotations(1, 30, seed=8).double().requires_grad_(True)
        betas = random_betas(1, seed=8).double().requires_grad_(True)
        trans = torch.zeros(1, 3, dtype=torch.float64)

        def run(rot: torch.Tensor, betas: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            out = body64(rot, trans, betas)
            return out.vertices, out.joints

        assert torch.autograd.gradcheck(run, (rot, betas), fast_mode=True)

    def test_exception_wrong_input_shapes(self, body: SMPLBody) -> None:
        rot, trans = body.zero_pose(2)
        with pytest.raises(ValueError, match="rotations: expected shape"):
            body(rot[:, :23], trans)
        with pytest.raises(ValueError, match="translation: expected shape"):
            body(rot, trans[:1])
        with pytest.raises(ValueError, match="shape: expected shape"):
            body(rot, trans, torch.zeros(2, 11))
        with pytest.raises(ValueError, match="rotations: expected torch.float32"):
            body(rot.double(), trans)

    @pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
    def test_cuda_matches_cpu(self, body: SMPLBody) -> None:
        gpu = copy.deepcopy(body).to("cuda")
        rot, betas = random_rotations(4, 30, seed=9), random_betas(4, seed=9)
        cpu_out = body(rot, torch.zeros(4, 3), betas)
        gpu_out = gpu(rot.cuda(), torch.zeros(4, 3, device="cuda"), betas.cuda())
        torch.testing.assert_close(gpu_out.vertices.cpu(), cpu_out.vertices, atol=1e-5,
                                   rtol=0)


class TestSMPLBodyExportCompact:
    def test_matches_smpl_at_zero_pose_for_any_shape(self, body: SMPLBody) -> None:
        face_index, bary = surface_samples(body, 300, seed=10)
        compact = body.export_compact(face_index, bary)
        betas = random_betas(4, seed=10)
        rot, trans = body.zero_pose(4)
        full = body(rot, trans, betas)
        small = compact(rot, trans, betas)
        bary_t = torch.tensor(bary, dtype=torch.float32)
        expected = barycentric_interpolate(full.vertices, body.faces, torch.as_tensor(face_index),
                                           bary_t)
        torch.testing.assert_close(small.points, expected, atol=1e-5, rtol=0)
        torch.testing.assert_close(small.joints, full.joints, atol=1e-5, rtol=0)

    def test_joints_match_smpl_under_pose(self, body: SMPLBody) -> None:
        compact = body.export_compact(*surface_samples(body, 50, seed=11))
        rot, betas = random_rotations(8, 30, seed=11), random_betas(8, seed=11)
        trans = torch.randn(8, 3, generator=torch.Generator().manual_seed(11))
        full, small = body(rot, trans, betas), compact(rot, trans, betas)
        torch.testing.assert_close(small.joints, full.joints, atol=1e-5, rtol=0)
        torch.testing.assert_close(small.rotations, full.rotations, atol=1e-6, rtol=0)

    def test_points_at_vertices_differ_only_by_pose_correctives(
        self, body: SMPLBody, no_correctives_body: SMPLBody
    ) -> None:
        # At mesh vertices the compact LBS equals SMPL's except for the pose correctives;
        # inside faces it also blends weights before skinning (a gap that shrinks with the
        # triangle size), so vertices isolate the corrective term.
        face_index, bary, vertex = vertex_samples(body, 200, seed=12)
        rot, betas = random_rotations(8, 30, seed=12), random_betas(8, seed=12)
        trans = torch.zeros(8, 3)
        plain = no_correctives_body
        torch.testing.assert_close(plain.export_compact(face_index, bary)(rot, trans, betas).points,
                                   plain(rot, trans, betas).vertices[:, vertex], atol=1e-5, rtol=0)
        gap = (body.export_compact(face_index, bary)(rot, trans, betas).points
               - body(rot, trans, betas).vertices[:, vertex]).norm(dim=-1)
        features = (rot[:, 1:] - torch.eye(3)).flatten(1)  # [B, 207] SMPL's pose feature
        corrective = (features @ body.smpl.posedirs).view(8, -1, 3)[:, vertex].norm(dim=-1)
        assert gap.max() > 1e-3
        # Skinning blends rotations, which never lengthen the corrective offset.
        assert (gap <= corrective + 1e-5).all()

    def test_exception_bad_surface_points(self, body: SMPLBody) -> None:
        face_index, bary = surface_samples(body, 10, seed=13)
        with pytest.raises(ValueError, match="face_index: values must lie in"):
            body.export_compact(face_index + len(body.faces), bary)
        with pytest.raises(ValueError, match=r"barycentric: expected shape \(10, 3\)"):
            body.export_compact(face_index, bary[:, :2])
        with pytest.raises(ValueError, match="barycentric: rows must be non-negative"):
            body.export_compact(face_index, bary * 2)


class TestConvertSMPLPickle:
    @pytest.mark.parametrize("protocol", [0, 2])
    def test_chumpy_style_file_converts_to_the_same_body(
        self, tmp_path: Path, body: SMPLBody, protocol: int
    ) -> None:
        src = write_chumpy_style_pickle(tmp_path / "basicModel_neutral.pkl",
                                        build_smpl_arrays(), protocol=protocol)
        assert importlib.util.find_spec("chumpy") is None, "the test needs chumpy absent"
        dst = convert_smpl_pickle(src, tmp_path / "smpl" / "SMPL_NEUTRAL.pkl")
        converted = SMPLBody(tmp_path)
        rot, betas = random_rotations(2, 30, seed=14), random_betas(2, seed=14)
        trans = torch.zeros(2, 3)
        assert converted.model_file == dst
        assert torch.equal(converted(rot, trans, betas).vertices,
                           body(rot, trans, betas).vertices)

    def test_reads_python2_module_names_without_warnings(self, tmp_path: Path) -> None:
        src = write_chumpy_style_pickle(tmp_path / "official.pkl", build_smpl_arrays())
        raw = src.read_bytes()
        assert b"cnumpy.core.multiarray\n" in raw and b"cscipy.sparse.csc\n" in raw
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # numpy.core and scipy.sparse.csc warn if imported
            data = read_smpl_pickle(src)
        assert isinstance(data["J_regressor"], sp.csc_matrix)

    def test_chumpy_style_file_loads_directly(self, tmp_path: Path, body: SMPLBody) -> None:
        src = write_chumpy_style_pickle(tmp_path / "model.pkl", build_smpl_arrays())
        rot, trans = body.zero_pose(1)
        assert torch.equal(SMPLBody(src)(rot, trans).vertices, body(rot, trans).vertices)

    def test_converted_file_is_plain_and_loads_in_smplx(self, tmp_path: Path) -> None:
        arrays = build_smpl_arrays()
        src = write_chumpy_style_pickle(tmp_path / "official.pkl", arrays)
        dst = convert_smpl_pickle(src, tmp_path / "plain.pkl")
        with open(dst, "rb") as f:
            data = pickle.load(f)  # would raise ModuleNotFoundError on a chumpy class
        assert isinstance(data["shapedirs"], np.ndarray)
        assert data["bs_style"] == "lbs"
        layer = smplx.SMPLLayer(model_path=str(dst))
        np.testing.assert_allclose(layer.v_template.numpy(), arrays["v_template"], atol=1e-6)

    def test_exception_chumpy_expression(self, tmp_path: Path) -> None:
        src = write_chumpy_style_pickle(tmp_path / "expr.pkl", build_smpl_arrays(),
                                        expression_key="posedirs")
        with pytest.raises(SMPLFormatError, match=r"'posedirs'.*chumpy\.ch_ops\.add"):
            convert_smpl_pickle(src, tmp_path / "out.pkl")

    def test_exception_refuses_foreign_objects(self, tmp_path: Path) -> None:
        arrays = build_smpl_arrays()
        arrays["note"] = Path("somewhere")
        src = write_smpl_pickle(tmp_path / "odd.pkl", arrays)
        with pytest.raises(SMPLFormatError, match=r"odd\.pkl: refusing to unpickle pathlib"):
            convert_smpl_pickle(src, tmp_path / "out.pkl")

    def test_command_line(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        src = write_chumpy_style_pickle(tmp_path / "official.pkl", build_smpl_arrays())
        assert main([str(src), str(tmp_path / "plain.pkl")]) == 0
        assert (tmp_path / "plain.pkl").is_file()
        assert main([str(tmp_path / "absent.pkl"), str(tmp_path / "x.pkl")]) == 1
        assert "absent.pkl does not exist" in capsys.readouterr().err


class TestSMPLBodyErrors:
    def test_missing_path(self, tmp_path: Path) -> None:
        with pytest.raises(FileNotFoundError, match=r"nowhere does not exist"):
            SMPLBody(tmp_path / "nowhere")

    def test_folder_with_official_file_names(self, tmp_path: Path) -> None:
        write_smpl_pickle(tmp_path / "basicModel_neutral_lbs_10_207_0_v1.0.0.pkl",
                          build_smpl_arrays())
        with pytest.raises(FileNotFoundError) as err:
            SMPLBody(tmp_path)
        message = str(err.value)
        assert "smpl/SMPL_NEUTRAL.pkl" in message
        assert "basicModel_neutral_lbs_10_207_0_v1.0.0.pkl" in message

    def test_folder_without_that_gender(self, model_dir: Path) -> None:
        with pytest.raises(FileNotFoundError, match="SMPL_MALE.pkl"):
            SMPLBody(model_dir, gender="male")

    @pytest.mark.parametrize("file_name", ["SMPL_MALE.pkl", "basicModel_m_lbs_10_207_0_v1.0.0.pkl"])
    def test_file_named_for_another_gender(self, tmp_path: Path, file_name: str) -> None:
        path = write_smpl_pickle(tmp_path / file_name, build_smpl_arrays())
        with pytest.raises(ValueError, match="pass gender='male'"):
            SMPLBody(path)

    def test_unknown_gender(self, model_dir: Path) -> None:
        with pytest.raises(ValueError, match="gender: expected one of"):
            SMPLBody(model_dir, gender="kid")

    def test_missing_key(self, tmp_path: Path) -> None:
        arrays = build_smpl_arrays()
        del arrays["posedirs"]
        path = write_smpl_pickle(tmp_path / "no_posedirs.pkl", arrays)
        with pytest.raises(SMPLFormatError, match=r"no_posedirs\.pkl: missing key\(s\) posedirs"):
            SMPLBody(path)

    def test_wrong_array_shape(self, tmp_path: Path) -> None:
        arrays = build_smpl_arrays()
        arrays["posedirs"] = arrays["posedirs"][..., :200]
        path = write_smpl_pickle(tmp_path / "short.pkl", arrays)
        with pytest.raises(SMPLFormatError, match=r"'posedirs' has shape .*200\), expected"):
            SMPLBody(path)

    def test_not_smpl_skeleton(self, tmp_path: Path) -> None:
        arrays = build_smpl_arrays()
        arrays["kintree_table"][0, 5] = 1
        path = write_smpl_pickle(tmp_path / "tree.pkl", arrays)
        with pytest.raises(SMPLFormatError, match="not SMPL's 24-joint tree"):
            SMPLBody(path)

    def test_not_smpl_frame(self, tmp_path: Path) -> None:
        arrays = build_smpl_arrays()
        z_up = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])  # +90 deg about X
        arrays["v_template"] = arrays["v_template"] @ z_up.T
        path = write_smpl_pickle(tmp_path / "z_up.pkl", arrays)
        with pytest.raises(SMPLFormatError, match=r"not in SMPL's frame .*head above pelvis"):
            SMPLBody(path)

    def test_not_a_pickle(self, tmp_path: Path) -> None:
        path = tmp_path / "SMPL_NEUTRAL.pkl"
        path.write_text("not a model")
        with pytest.raises(SMPLFormatError, match="not a readable pickle"):
            SMPLBody(path)

    def test_too_many_betas(self, model_dir: Path) -> None:
        with pytest.raises(SMPLFormatError, match="num_betas=16 but the file has 10"):
            SMPLBody(model_dir, num_betas=16)
