"""Config validation: the JSON schema (with defaults) and the typed views."""

import copy
import re
from pathlib import Path

import pytest
import yaml
from snakemake.utils import validate

from analog_tl.config import AnalogConfig, DataConfig, TrainConfig, from_dict
from analog_tl.vocabulary import CONFIG_SCHEMA

REPO = Path(__file__).resolve().parents[1]
SCHEMA = str(REPO / CONFIG_SCHEMA)
DEFAULT = yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def checked(config):
    config = copy.deepcopy(config)
    validate(config, SCHEMA)
    return config


OVERLAY = re.compile(r"^# Overlay on (config/[\w.-]+\.yaml)")  # the first line of an overlay names its base


@pytest.mark.parametrize("path", sorted((REPO / "config").glob("*.yaml")) + [REPO / "tests" / "data" / "tiny.yaml"],
                         ids=lambda p: p.name)
def test_shipped_configs_are_valid(path):
    """A config alone, an overlay merged over the base its first line names (as Snakemake merges them)."""
    from analog_tl.workflow_config import read_workflow_config

    base = OVERLAY.match(path.read_text())
    if base:
        read_workflow_config([REPO / base.group(1), path], SCHEMA)
    else:
        checked(yaml.safe_load(path.read_text()))


def test_every_overlay_names_its_base_on_its_first_line():
    overlays = [p for p in (REPO / "config").glob("*.yaml") if OVERLAY.match(p.read_text())]
    assert {p.name for p in overlays} == {"real-small-fast-lr.yaml", "real-small-seeds.yaml", "real-small-aihwkit.yaml",
                                           "real-small-compare.yaml",
                                           "cifar-folders.yaml"}
    for path in overlays:
        assert (REPO / OVERLAY.match(path.read_text()).group(1)).is_file()


def test_defaults_fill_missing_sections():
    config = checked({"tasks": {"t": ["a", "b"]}})
    assert config["finetune"]["batch_size"] == 8 and config["finetune"]["digital_lr"] == 0.01
    assert config["analog"]["device"]["fields"] == {"w_max": 1.0, "w_min": -1.0}
    assert config["pretrain"]["augment"] == {"crop_padding": 4, "horizontal_flip": True}
    assert config["analog"]["compound"] == {}


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda c: c["finetune"].update(epoch=3), "'epoch' was unexpected"),
        (lambda c: c["finetune"].update(epochs=0), "0 is less than the minimum of 1"),
        (lambda c: c["finetune"].update(batch_size="8"), "'8' is not of type 'integer'"),
        (lambda c: c["finetune"].update(analog_lr=-0.01), "less than or equal to the minimum of 0"),
        (lambda c: c["analog"].update(transfer_noise=[]), "should be non-empty"),
        (lambda c: c["analog"].update(transfer_noise=[0.1, 0.1]), "has non-unique elements"),
        (lambda c: c["tasks"].update(one=["disc+ring"]), "is not valid under any of the given schemas"),
        (lambda c: c["model"].update(preset="huge"), "'huge' is not one of"),
        (lambda c: c["data"].update(source="kaggle"), "'kaggle' is not one of"),
        (lambda c: c.update(tasks={}), "should be non-empty"),
    ],
)
def test_schema_rejects_mistakes_with_a_message_naming_them(change, message):
    config = copy.deepcopy(DEFAULT)
    change(config)
    with pytest.raises(Exception, match="ValidationError") as error:
        validate(config, SCHEMA)
    assert message in str(error.value)


def test_typed_views_reject_unknown_keys_and_nest():
    with pytest.raises(ValueError, match="unknown key\\(s\\) for TrainConfig: \\['epoch'\\]"):
        from_dict(TrainConfig, {"epoch": 3})
    data = from_dict(DataConfig, {"synthetic": {"seed": 3}, "max_train_per_class": None})
    assert data.synthetic.seed == 3
    analog = from_dict(AnalogConfig, {"device": {"name": "SoftBoundsReferenceDevice", "fields": {"w_max": 1}}})
    assert analog.device.fields == {"w_max": 1}
