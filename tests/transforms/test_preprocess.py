"""Preprocess against an independent NumPy reference; training and test
preprocessing agree; confidence channels are carried, never transformed."""
import numpy as np
import pytest
import torch

from topogcn.engine.config import load_config
from topogcn.engine.data import build_dataset
from topogcn.skeleton import Skeleton
from topogcn.transforms import InputSpec, Preprocess, RandomRotation

STREAMS = ["joint", "bone", "motion", "bone_motion"]
CHAIN = Skeleton("chain4", 4, [(0, 1), (1, 2), (2, 3)], center=1)


#: CHAIN rooted at its centre 1, written by hand: parent and 2nd ancestor
#: of each joint (itself when it has none)
CHAIN_PARENT = [1, 1, 1, 2]
CHAIN_ANCESTOR2 = [0, 1, 2, 1]


def reference(x, frames, dims, center_mode, scale, stream, crop=1.0, first_person=False):
    """The documented pipeline, written from the docs with NumPy only."""
    x = np.array(x, dtype=np.float64)  # [M, T, V, C]
    c = x[..., :dims]
    center, bones = 1, [(0, 1), (1, 2), (2, 3)]
    if center_mode != "none":
        ref = c[:, :1, center:center + 1] if center_mode == "first_frame" else \
            c[:, :, center:center + 1]
        if first_person:
            ref = np.repeat(ref[:1], len(c), 0) * (np.abs(c).sum((1, 2, 3)) > 0)[:, None,
                                                                                  None, None]
        c = c - ref
    if scale:
        lengths = np.linalg.norm(c[:, :, [a for a, _ in bones]] - c[:, :, [b for _, b in bones]],
                                 axis=-1)
        ok = lengths > 1e-6
        if ok.any():
            c = c / lengths[ok].mean()
    x = np.concatenate([c, x[..., dims:]], -1)
    bias = int((1 - crop) * x.shape[1] / 2)
    x = x[:, bias:x.shape[1] - bias]
    T = x.shape[1]
    src = np.clip((np.arange(frames) + 0.5) * T / frames - 0.5, 0, T - 1)  # align_corners=False
    lo = np.floor(src).astype(int)
    hi = np.minimum(lo + 1, T - 1)
    w = (src - lo)[None, :, None, None]
    x = x[:, lo] * (1 - w) + x[:, hi] * w
    c = x[..., :dims]
    if stream in ("bone", "bone_motion", "kmode", "kmode_motion"):
        anc = CHAIN_ANCESTOR2 if stream.startswith("kmode") else CHAIN_PARENT
        keep = np.array([a == v for v, a in enumerate(anc)])[None, None, :, None]
        c = np.where(keep, c, c - c[:, :, anc])
    if stream in ("motion", "bone_motion", "kmode_motion"):
        c = np.concatenate([c[:, 1:] - c[:, :-1], np.zeros_like(c[:, :1])], 1)
    return np.concatenate([c, x[..., dims:]], -1)


@pytest.mark.parametrize("stream", STREAMS + ["kmode", "kmode_motion"])
@pytest.mark.parametrize("channels", [("x", "y", "z"), ("x", "y", "confidence")])
@pytest.mark.parametrize("T", [5, 12, 29])
def test_matches_numpy_reference(stream, channels, T):
    spec = InputSpec(CHAIN, channels, ("a", "b"), persons=2, frames=12, center="first_frame",
                     normalize_scale=True, stream=stream, k=2)
    g = torch.Generator().manual_seed(T)
    x = torch.randn(2, T, 4, 3, generator=g)
    got = Preprocess(spec)(x)
    ref = reference(x.numpy(), 12, spec.coordinate_dims, "first_frame", True, stream)
    np.testing.assert_allclose(got.numpy(), ref, atol=1e-5)
    if channels[-1] == "confidence":  # carried: only resampled
        conf = reference(x.numpy(), 12, 3, "none", False, "joint")[..., 2]
        np.testing.assert_allclose(got[..., 2].numpy(), conf, atol=1e-5)


@pytest.mark.parametrize("T", [7, 40, 41, 64, 80, 97])
@pytest.mark.parametrize("stream", ["kmode", "motion", "kmode_motion"])
def test_official_options_match_numpy_reference(T, stream):
    """95% centre crop at test, centring on the first person, k-mode."""
    spec = InputSpec(CHAIN, ("x", "y", "z"), ("a", "b"), persons=2, frames=16,
                     center="first_frame", center_person="first", normalize_scale=False,
                     stream=stream, k=2, test_crop=0.95)
    g = torch.Generator().manual_seed(T)
    x = torch.randn(2, T, 4, 3, generator=g)
    x[1, :, :, :] += 5.0
    ref = reference(x.numpy(), 16, 3, "first_frame", False, stream, crop=0.95, first_person=True)
    np.testing.assert_allclose(Preprocess(spec)(x).numpy(), ref, atol=1e-5)
    absent = x.clone()
    absent[1] = 0  # a missing second person stays zero
    assert Preprocess(spec)(absent)[1].abs().sum() == 0


@pytest.mark.parametrize("crop", [1.0, 0.95])
def test_batch_equals_one_clip_at_a_time_and_pads_persons(crop):
    spec = InputSpec(CHAIN, ("x", "y", "z"), ("a",), persons=2, frames=9, center="per_frame",
                     stream="bone_motion", test_crop=crop)
    pre = Preprocess(spec)
    x = torch.randn(3, 1, 14, 4, 3)
    batch = pre(x)
    assert batch.shape == (3, 2, 9, 4, 3)
    for i in range(3):
        torch.testing.assert_close(batch[i], pre(x[i]), rtol=0, atol=1e-6)
    assert batch[:, 1].abs().sum() == 0  # the padded person stays zero


@pytest.mark.parametrize("stream", STREAMS)
def test_training_and_test_preprocessing_agree_without_augmentation(stream):
    """The same raw clip gives the same tensor through the training pipeline
    (augmentation off) and the test pipeline, for every stream."""
    cfg = load_config("synthetic", [
        f"data.stream={stream}", "data.augment=false", "data.frames=16",
        "data.options={num_subjects: 3, test_subjects: 1, gestures_per_class: 1, "
        "num_classes: 2}"]).data
    train = build_dataset(cfg, "train", train=True)
    test_view = build_dataset(cfg, "train", train=False, spec=train.transform.spec)
    pre = Preprocess(train.transform.spec)
    for i in range(len(train)):
        a, b = train[i][0], test_view[i][0]
        assert torch.equal(a, b)
        assert torch.equal(a, pre(train.clip_data(i)))


def test_motion_is_taken_after_resampling_at_training_too():
    cfg = load_config("synthetic", [
        "data.stream=motion", "data.augment=true", "data.crop_scale=[1.0, 1.0]",
        "data.rotation=0", "data.scale=0", "data.frames=16",
        "data.options={num_subjects: 3, test_subjects: 1, gestures_per_class: 1, "
        "num_classes: 2}"]).data
    train = build_dataset(cfg, "train", train=True)
    test = Preprocess(train.transform.spec)
    for i in range(len(train)):  # a full-length crop is no crop: same scale of motion
        torch.testing.assert_close(train[i][0], test(train.clip_data(i)), rtol=0, atol=1e-6)


def test_rotation_leaves_confidence_alone():
    x = torch.randn(1, 6, 4, 3)
    out = RandomRotation(0.5, dims=2, seed=0)(x)
    assert torch.equal(out[..., 2], x[..., 2]) and not torch.equal(out[..., :2], x[..., :2])


@pytest.mark.parametrize("stream", ["kmode", "kmode_motion", "bone_motion"])
def test_third_channel_as_a_coordinate_is_treated_as_z(stream):
    """The official code's treatment of (x, y, confidence): every step acts on
    the confidence as on z."""
    kw = dict(persons=2, frames=12, center="first_frame", normalize_scale=False, stream=stream,
              k=2)
    spec = InputSpec(CHAIN, ("x", "y", "confidence"), ("a", "b"), third_channel="coordinate",
                     **kw)
    x = torch.randn(2, 17, 4, 3, generator=torch.Generator().manual_seed(0))
    ref = reference(x.numpy(), 12, 3, "first_frame", False, stream)
    np.testing.assert_allclose(Preprocess(spec)(x).numpy(), ref, atol=1e-5)
    as_z = InputSpec(CHAIN, ("x", "y", "z"), ("a", "b"), **kw)
    torch.testing.assert_close(Preprocess(spec)(x), Preprocess(as_z)(x))
    carried = InputSpec(CHAIN, ("x", "y", "confidence"), ("a", "b"), **kw)
    assert not torch.allclose(Preprocess(carried)(x), Preprocess(spec)(x))
    assert "('confidence' as a third coordinate)" in spec.describe()


def test_third_channel_coordinate_rotates_in_3d_and_is_checked():
    from topogcn.engine.data import augmentations
    cfg = load_config("paper", ["data.third_channel=coordinate"])
    spec = InputSpec(CHAIN, ("x", "y", "confidence"), ("a",), third_channel="coordinate")
    spatial = augmentations(cfg.data, spec)[1]
    assert [(type(t), t.dims) for t in spatial] == [(RandomRotation, 3)]
    for channels in (("x", "y", "z"), ("x", "y")):
        with pytest.raises(ValueError, match="third_channel='coordinate' treats a third"):
            InputSpec(CHAIN, channels, ("a",), third_channel="coordinate")
    assert load_config("paper-imigue").data.third_channel == "coordinate"
    assert load_config("paper-smg").data.third_channel == "carried"


def test_data_persons_pads_like_the_official_ntu_data():
    """The official NTU data pad every clip to 2 persons; data.persons does
    the same for any dataset (the padded person stays zero)."""
    from topogcn.engine.data import input_spec_for
    cfg = load_config("synthetic", ["data.persons=2"])
    ds = build_dataset(cfg.data, "test")
    assert ds.num_person == 1
    spec = input_spec_for(cfg.data, ds)
    x = Preprocess(spec)(ds.clip_data(0))
    assert spec.persons == 2 and x.shape[0] == 2 and x[1].abs().sum() == 0
    assert input_spec_for(load_config("synthetic").data, ds).persons == 1
