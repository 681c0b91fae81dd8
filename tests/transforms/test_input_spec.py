"""InputSpec: validation, serialisation, persons and raw-input checks."""
import json

import pytest
import torch

from topogcn.skeleton import get_skeleton
from topogcn.transforms import InputSpec, InputSpecError, check_channels, default_channels

NTU = get_skeleton("ntu25")


def spec(**kw):
    base = dict(skeleton=NTU, channels=("x", "y", "z"), classes=("a", "b", "c"), persons=2,
                frames=16, center="per_frame", normalize_scale=True, stream="motion")
    base.update(kw)
    return InputSpec(**base)


def test_round_trip_through_json():
    s = spec(channels=("x", "y", "confidence"))
    back = InputSpec.from_dict(json.loads(json.dumps(s.to_dict())))
    assert back == s and back.coordinate_dims == 2 and back.num_channels == 3
    assert back.raw_shape == ["N", 2, "T", 25, 3] and back.model_shape == ["N", 2, 16, 25, 3]


@pytest.mark.parametrize("kw, match", [
    (dict(channels=("confidence", "x", "y")), "coordinates must come first"),
    (dict(channels=("x", "z")), "coordinates must come first"),
    (dict(channels=("x", "y", "y")), "unique"),
    (dict(classes=("a", "a")), "duplicate class names"),
    (dict(classes=()), "at least one class"),
    (dict(frames=0), "frames must be a positive integer"),
    (dict(persons=True), "persons must be a positive integer"),
    (dict(stream="velocity"), "stream must be one of"),
    (dict(center="mean"), "center must be one of"),
    (dict(version=99), "version 99 is not supported"),
])
def test_invalid_specs_are_refused(kw, match):
    with pytest.raises(InputSpecError, match=match):
        spec(**kw)


def test_from_dict_names_source_and_field():
    d = spec().to_dict()
    with pytest.raises(InputSpecError, match="ckpt: unknown fields \\['colour'\\]"):
        InputSpec.from_dict({**d, "colour": 1}, "ckpt")
    with pytest.raises(InputSpecError, match="ckpt: missing field 'channels'"):
        InputSpec.from_dict({k: v for k, v in d.items() if k != "channels"}, "ckpt")
    with pytest.raises(InputSpecError, match="ckpt: 'classes' must be a list"):
        InputSpec.from_dict({**d, "classes": "abc"}, "ckpt")
    with pytest.raises(InputSpecError, match="ckpt: frames must be a positive integer"):
        InputSpec.from_dict({**d, "frames": "64"}, "ckpt")


def test_fit_persons_pads_and_cuts_any_batch():
    s = spec(persons=2)
    one = torch.ones(1, 5, 25, 3)
    padded = s.fit_persons(one)
    assert padded.shape == (2, 5, 25, 3) and padded[1].abs().sum() == 0
    assert s.fit_persons(torch.ones(4, 3, 5, 25, 3)).shape == (4, 2, 5, 25, 3)
    three = torch.arange(3.).view(3, 1, 1, 1).expand(3, 5, 25, 3)
    assert torch.equal(s.fit_persons(three)[:, 0, 0, 0], torch.tensor([0., 1.]))


def test_check_raw_names_source_and_expectation():
    s = spec()
    s.check_raw(torch.zeros(1, 7, 25, 3))
    with pytest.raises(InputSpecError, match="clip.npy: 24 joints x 3 channels.*'ntu25'"):
        s.check_raw(torch.zeros(1, 7, 24, 3), "clip.npy")
    with pytest.raises(InputSpecError, match="has no person"):
        s.check_raw(torch.zeros(0, 7, 25, 3))
    with pytest.raises(InputSpecError, match="has no frame"):
        s.check_raw(torch.zeros(1, 0, 25, 3))


def test_channel_helpers():
    assert default_channels(2) == ("x", "y") and default_channels(3) == ("x", "y", "z")
    with pytest.raises(InputSpecError, match="4 channels per joint: name them"):
        default_channels(4)
    assert check_channels([" x", "y ", "z", "visibility"]) == ("x", "y", "z", "visibility")
