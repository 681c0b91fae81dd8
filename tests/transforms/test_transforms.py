
import pytest
import torch

from topogcn.skeleton import Skeleton, get_skeleton
from topogcn.transforms import (
    CenterJoint, Compose, JointDropout, NormalizeScale, RandomCropResize, RandomRotation,
    Resize, ToBone, ToMotion, resize_frames, stream_transform,
)

CHAIN = Skeleton("chain3", 3, [(0, 1), (1, 2)], center=1)


def pose():
    x = torch.zeros(1, 2, 3, 3)
    x[0, :, 0] = torch.tensor([0.0, 1.0, 0.0])
    x[0, :, 1] = torch.tensor([0.0, 0.0, 0.0])
    x[0, :, 2] = torch.tensor([2.0, 0.0, 0.0])
    x[0, 1] += torch.tensor([0.5, 0.5, 0.5])
    return x


def test_bone_stream_of_known_pose():
    b = ToBone(CHAIN)(pose())
    assert torch.allclose(b[0, 0, 0], torch.tensor([0.0, 1.0, 0.0]))  # joint 0 - centre
    assert torch.allclose(b[0, 0, 1], torch.zeros(3))  # centre
    assert torch.allclose(b[0, 0, 2], torch.tensor([2.0, 0.0, 0.0]))


def test_bone_stream_keeps_confidence_channel():
    x = pose()
    x[..., 2] = 0.7
    b = ToBone(CHAIN, dims=2)(x)
    assert torch.all(b[..., 2] == 0.7)


def test_motion_stream():
    m = ToMotion()(pose())
    assert torch.allclose(m[0, 0], torch.full((3, 3), 0.5))
    assert torch.all(m[0, -1] == 0)


def test_rotation_preserves_bone_lengths():
    s = get_skeleton("ntu25")
    x = torch.randn(2, 5, 25, 3)
    r = RandomRotation(0.3, seed=3)(x)
    b = torch.tensor(s.bones)
    length = lambda t: (t[:, :, b[:, 0]] - t[:, :, b[:, 1]]).norm(dim=-1)  # noqa: E731
    assert torch.allclose(length(x), length(r), atol=1e-5)
    assert not torch.allclose(x, r)


def test_rotation_2d_leaves_confidence():
    x = torch.rand(1, 4, 5, 3)
    r = RandomRotation(0.5, dims=2, seed=1)(x)
    assert torch.equal(r[..., 2], x[..., 2])
    assert torch.allclose(r[..., :2].norm(dim=-1), x[..., :2].norm(dim=-1), atol=1e-6)


def test_centring_puts_centre_at_origin():
    s = get_skeleton("ntu25")
    x = torch.randn(2, 6, 25, 3) + 5
    c = CenterJoint(s)(x)
    assert torch.allclose(c[:, 0, s.center], torch.zeros(2, 3), atol=1e-6)
    pf = CenterJoint(s, per_frame=True)(x)
    assert torch.allclose(pf[:, :, s.center], torch.zeros(2, 6, 3), atol=1e-6)


def test_scale_normalisation():
    x = pose() * 10
    n = NormalizeScale(CHAIN)(x)
    b = torch.tensor(CHAIN.bones)
    assert torch.isclose((n[:, :, b[:, 0]] - n[:, :, b[:, 1]]).norm(dim=-1).mean(),
                         torch.tensor(1.0))


def test_resize_and_crop():
    x = torch.arange(10.0).view(1, 10, 1, 1).expand(1, 10, 2, 3)
    assert resize_frames(x, 20).shape == (1, 20, 2, 3)
    assert resize_frames(x, 10) is x
    y = RandomCropResize(5, scale=(0.5, 0.5), center=True)(x)
    assert y.shape == (1, 5, 2, 3)
    assert 2 <= y[0, 0, 0, 0] and y[0, -1, 0, 0] <= 7  # the middle half of the frames
    a = RandomCropResize(8, seed=0)(x)
    b = RandomCropResize(8, seed=0)(x)
    assert torch.equal(a, b)
    with pytest.raises(ValueError, match="scale must satisfy"):
        RandomCropResize(8, scale=(0.0, 1.0))


def test_joint_dropout_seeded():
    x = torch.ones(1, 3, 100, 2)
    d = JointDropout(0.5, seed=0)(x)
    zeroed = (d[0, 0, :, 0] == 0).float().mean()
    assert 0.3 < zeroed < 0.7
    assert torch.equal(d, JointDropout(0.5, seed=0)(x))


def test_compose_and_streams():
    t = Compose([CenterJoint(CHAIN), Resize(4)])
    assert t(pose()).shape == (1, 4, 3, 3)
    assert "Compose" in repr(t)
    assert stream_transform("joint", CHAIN) is None
    bm = stream_transform("bone_motion", CHAIN)(pose())
    assert torch.allclose(bm, ToMotion()(ToBone(CHAIN)(pose())))
    with pytest.raises(ValueError, match="Unknown stream"):
        stream_transform("velocity", CHAIN)
    with pytest.raises(ValueError, match=r"expected a sequence \[M, T, V, C\]"):
        ToMotion()(torch.zeros(3, 3))
