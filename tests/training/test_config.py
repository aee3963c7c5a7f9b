from pathlib import Path

import pytest
import yaml

from ferkit.config import ConfigError, TrainConfig, load_config


def write(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


def test_defaults_then_yaml_then_overrides(tmp_path):
    path = write(tmp_path, "data: x.csv\nepochs: 7\nswa: false\n")
    config = load_config(path, ["lr=0.01", "swa=true", "model=resnet_swish_xs"])
    assert config.epochs == 7 and config.lr == 0.01 and config.swa is True
    assert config.batch_size == TrainConfig().batch_size
    assert config.name == "c"


@pytest.mark.parametrize("override, message", [
    ("epochs=ten", "epochs must be int"),
    ("bogus=1", "unknown config key"),
    ("swa=maybe", "swa must be true or false"),
    ("model=vgg", "unknown model 'vgg'"),
    ("optimizer=adam", "optimizer must be adamw or sgd"),
    ("temperature=-1", "temperature must be > 0"),
    ("temperature=hot", "temperature must be fit, none or a number"),
    ("labels=ferplus", "needs ferplus=PATH"),
    ("val_labels=ferplus", "val_labels=ferplus needs ferplus=PATH"),
    ("val_labels=both", "val_labels must be auto, fer2013 or ferplus"),
    ("ferplus_weight=0.3", "ferplus_weight blends FER.'s votes into FER2013's labels: it needs labels=fer2013"),
    ("ferplus_weight=1.5", r"ferplus_weight must be in \[0, 1\]"),
    ("noequals", "not key=value"),
    ("dropout2d=1", "dropout2d must be in"),
    ("lr=inf", "lr must be a number > 0"),
    ("weight_decay=-5", "weight_decay must be a number >= 0"),
    ("rotation=nan", "rotation must be degrees"),
    ("zoom=5", "zoom must be in"),
    ("shift=-1", "shift must be a fraction"),
    ("mixup=inf", "mixup and cutmix must be numbers"),
    ("train_limit=1", "train_limit must be 0 .all faces. or at least 2"),
    ("threads=-1", "threads must be >= 0"),
    ("devices=0", "devices and num_nodes must be >= 1"),
    ("strategy=nope", "strategy must be auto, ddp or ddp_spawn"),
    ("accelerator=nope", "accelerator must be auto"),
    ("temperature=inf", "temperature must be > 0"),
    ("head_dropout=-0.5", "head_dropout must be in"),
    ("precision=16-mixed", "precision must be auto, 32 or bf16-mixed"),
])
def test_bad_values_are_one_line_errors(tmp_path, override, message):
    path = write(tmp_path, "data: x.csv\n")
    with pytest.raises(ConfigError, match=message) as info:
        load_config(path, [override])
    assert "\n" not in str(info.value)


def test_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "data: [unclosed\n"))
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(write(tmp_path, "- a\n- b\n"))
    with pytest.raises(ConfigError, match="with names as keys"):
        load_config(write(tmp_path, "1: 2\n"))
    binary = tmp_path / "data.yaml"
    binary.write_bytes(b"\x1f\x8b\x08\x00\xff\xfe")  # a .gz passed where the config goes
    with pytest.raises(ConfigError, match="not a YAML config .not text."):
        load_config(binary)
    with pytest.raises(ConfigError, match="data=PATH is required"):
        load_config(write(tmp_path, "epochs: 1\n"))


def test_dropout_rates_override_the_models_own():
    own = TrainConfig(data="x", model="resnet_swish_s").model_config()
    assert (own.dropout2d, own.head_dropout) == (0.1, 0.4)
    changed = TrainConfig(data="x", model="resnet_swish_s", dropout2d=0.0, head_dropout=0.2).model_config()
    assert (changed.dropout2d, changed.head_dropout) == (0.0, 0.2)
    assert changed.widths == own.widths


def test_fixed_temperature():
    assert TrainConfig(data="x", temperature="0.7").validate().fixed_temperature() == 0.7
    assert TrainConfig(data="x").fixed_temperature() is None


@pytest.mark.parametrize("path", sorted((Path(__file__).parents[2] / "configs").glob("*.yaml")),
                         ids=lambda p: p.name)
def test_every_shipped_preset_loads(path, tmp_path, monkeypatch):
    # A preset with a misspelt key or a value of the wrong type would fail only when a user trains.
    # Run from an empty folder, as on a clean clone: teachers under runs/ are ones the user trains
    # first (the preset's header says how), so they must be refused by name, and the rest of the
    # preset is then checked with the shipped model as its teacher.
    monkeypatch.chdir(tmp_path)
    preset = yaml.safe_load(path.read_text())
    if str(preset.get("teacher", "")).startswith("teachers/"):  # committed beside the presets: in every clone
        monkeypatch.chdir(path.parents[1])
    overrides = []
    if "runs/" in str(preset.get("teacher", "")):
        with pytest.raises(ConfigError, match=r"^teacher: runs/\S+: no such checkpoint file$"):
            load_config(path)
        overrides = ["teacher=default"]
    if "runs/" in str(preset.get("init", "")):  # a model trained first, likewise
        with pytest.raises(ConfigError, match=r"^init: runs/\S+: no such checkpoint file$"):
            load_config(path, overrides)
        overrides.append("init=default")
    if preset.get("teacher_outputs"):  # made by bench/teacher_outputs.py first (the preset's header says how)
        with pytest.raises(ConfigError, match=r"^teacher_outputs: \S+: no such file$"):
            load_config(path)
        (tmp_path / "outputs.pt").touch()
        overrides = [f"teacher_outputs={tmp_path / 'outputs.pt'}"]
    config = load_config(path, overrides)
    assert config.name and config.data


@pytest.mark.parametrize("cuda, bf16_gpu, amx, avx512_bf16, accelerator, expected", [
    (False, False, True, True, "auto", "bf16-mixed"),    # a Xeon with AMX: bf16 is 2.6x fp32 there
    (False, False, False, True, "auto", "bf16-mixed"),   # a Zen 4 EPYC, AVX-512 BF16 without AMX: 1.8x
    (False, False, False, False, "auto", "32"),          # AVX2 only: bf16 is 10x slower
    (True, True, False, False, "auto", "bf16-mixed"),    # a GPU with bf16
    (True, False, True, True, "auto", "32"),             # an older GPU, whatever the host CPU has
    (True, True, False, False, "cpu", "32"),             # accelerator=cpu on a GPU machine: the CPU decides
    (True, True, True, False, "cpu", "bf16-mixed"),
    (True, True, False, True, "cpu", "bf16-mixed"),
])
def test_auto_precision_follows_the_hardware(monkeypatch, cuda, bf16_gpu, amx, avx512_bf16, accelerator, expected):
    import torch

    from ferkit.training.run import resolve_precision

    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16_gpu)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert resolve_precision("auto", accelerator) == expected
    assert resolve_precision("32", accelerator) == "32"  # an explicit choice is kept
    assert TrainConfig().precision == "auto"
