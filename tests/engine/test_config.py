import pytest

from topogcn.engine.config import Config, ConfigError, load_config


def test_defaults_are_the_paper_recipe():
    cfg = Config()
    assert cfg.optim.name == "sgd" and cfg.optim.nesterov and cfg.optim.momentum == 0.9
    assert cfg.data.frames == 64 and cfg.data.batch_size == 32
    assert cfg.loss.label_smoothing == 0.1 and cfg.trainer.epochs == 110


def test_packaged_configs_and_base_chain():
    syn = load_config("synthetic")
    assert syn.data.name == "synthetic" and syn.model.kwargs["channels"] == [32, 32, 64]
    paper = load_config("synthetic-paper")
    assert paper.data.name == "synthetic" and paper.optim.milestones == [90, 100]
    assert load_config("paper-smg").data.name == "smg"


def test_dotted_overrides_and_types(tmp_path):
    cfg = load_config("synthetic", ["optim.lr=0.5", "data.crop_scale=[0.6, 0.9]",
                                    "model.kwargs.edges=2", "data.val_subjects=3",
                                    "trainer.gradient_clip_val=1"])
    assert cfg.optim.lr == 0.5 and cfg.data.crop_scale == (0.6, 0.9)
    assert cfg.model.kwargs["edges"] == 2 and cfg.data.val_subjects == 3
    assert cfg.trainer.gradient_clip_val == 1.0
    path = tmp_path / "c.yaml"
    path.write_text("base: synthetic\noptim:\n  lr: 0.01\n")
    assert load_config(str(path)).optim.lr == 0.01


@pytest.mark.parametrize("override,match", [
    ("optim.lrr=0.1", r"unknown key 'optim.lrr'; did you mean 'optim.lr'"),
    ("nope.x=1", r"unknown key 'nope.x' \(`topogcn config` prints every key\)"),
    ("optim.lr=fast", r"'optim.lr' must be a number, got 'fast'"),
    ("trainer.epochs=2.5", r"'trainer.epochs' must be an integer"),
    ("data.augment=maybe", r"'data.augment' must be true or false"),
    ("data.crop_scale=[1]", r"'data.crop_scale' must be a list of 2 values"),
    ("optim.lr", r"--set expects key=value"),
])
def test_bad_overrides(override, match):
    with pytest.raises(ConfigError, match=match):
        load_config("synthetic", [override])


def test_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="neither a file nor a packaged config.*synthetic"):
        load_config("no-such-config")
    bad = tmp_path / "bad.yaml"
    bad.write_text("data:\n  colour: red\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: unknown key 'data.colour'"):
        load_config(str(bad))
    loop = tmp_path / "loop.yaml"
    loop.write_text(f"base: {loop}\n")
    with pytest.raises(ConfigError, match="loops back"):
        load_config(str(loop))


def test_dump_round_trip(tmp_path):
    cfg = load_config("synthetic", ["optim.lr=0.3"])
    path = tmp_path / "dump.yaml"
    path.write_text(cfg.dump())
    assert load_config(str(path)).to_dict() == cfg.to_dict()


def test_typos_get_a_suggestion(tmp_path, capsys):
    from topogcn.cli import main
    with pytest.raises(ConfigError, match=r"unknown key 'optim.lrr'; did you mean 'optim.lr'"):
        load_config("synthetic", ["optim.lrr=1"])
    path = tmp_path / "c.yaml"
    path.write_text("data:\n  batchsize: 4\n")
    with pytest.raises(ConfigError, match=r"unknown key 'data.batchsize'; did you mean "
                                          r"'data.batch_size'"):
        load_config(str(path))
    assert main(["train", "--out", str(tmp_path / "r"), "--set", "model.kwargs={chanels: [8]}",
                 "trainer.epochs=1"]) == 2
    err = capsys.readouterr().err
    assert "has no argument 'chanels'; did you mean 'channels'?" in err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("override, choices", [
    ("data.stream=foo", "joint, bone, motion, bone_motion, kmode"),
    ("optim.name=adam", "sgd, adamw; got 'adam'; did you mean 'adamw'?"),
    ("optim.schedule=foo", "step, cosine"),
    ("trainer.logger=foo", "csv, tensorboard"),
    ("trainer.precision=16", "32-true, bf16-mixed, 16-mixed, 64-true"),
    ("data.center=middle", "first_frame, first_present, per_frame, none"),
    ("data.mirror=maybe", "true, false or auto; got 'maybe'"),
])
def test_choices_are_checked_when_the_config_is_loaded(override, choices, capsys):
    import time

    from topogcn.cli import main
    with pytest.raises(ConfigError, match="must be one of" if "mirror" not in override
                       else "must be true, false or auto"):
        load_config("synthetic", [override])
    start = time.monotonic()
    assert main(["train", "--set", override]) == 2  # before any data is read
    err = capsys.readouterr().err
    assert f"'{override.split('=')[0]}' must be" in err and choices in err, err
    assert time.monotonic() - start < 5


def test_every_assignment_is_checked_and_yaml_stays_plain(tmp_path):
    cfg = load_config("synthetic")
    with pytest.raises(ConfigError, match="'data.frames' must be between 1 and 100000"):
        cfg.data.frames = 0
    with pytest.raises(ConfigError, match="unknown key 'data.frame'; did you mean 'data.frames'"):
        cfg.data.frame = 8
    cfg.optim.schedule = "cosine"  # a valid value goes in
    dup = tmp_path / "dup.yaml"
    dup.write_text("optim:\n  lr: 0.1\n  lr: 0.2\n")
    with pytest.raises(ConfigError, match="the key 'lr' is given twice"):
        load_config(str(dup))
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("a: &a [1, 1, 1]\nb: &b [*a, *a, *a]\ndata:\n  options: {x: *b}\n")
    with pytest.raises(ConfigError, match=r"aliases \(\*name\) are not accepted"):
        load_config(str(bomb))
    # the resolved config round-trips through YAML unchanged
    again = tmp_path / "again.yaml"
    again.write_text(cfg.dump())
    assert load_config(str(again)).to_dict() == cfg.to_dict()
