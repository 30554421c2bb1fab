"""A bad configuration file is refused with its line and field named."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, Field

from shared.yamlconfig import ConfigError, parse_yaml


class Tier(BaseModel):
    name: str
    spend: int = Field(ge=0)


class Config(BaseModel):
    title: str
    tiers: list[Tier]


def test_valid_yaml_becomes_the_model():
    config = parse_yaml("title: t\ntiers:\n  - {name: gold, spend: 5}\n", Config)
    assert config.tiers[0].name == "gold"


def test_invalid_value_names_line_and_field():
    text = "title: t\ntiers:\n  - name: silver\n    spend: 10\n  - name: gold\n    spend: -1\n"
    with pytest.raises(ConfigError, match=r"rules.yaml:6: tiers\.1\.spend: Input should be greater"):
        parse_yaml(text, Config, "rules.yaml")


def test_missing_field_names_the_enclosing_line():
    with pytest.raises(ConfigError, match=r"x.yaml:2: tiers\.0\.spend: Field required"):
        parse_yaml("title: t\ntiers: [{name: gold}]\n", Config, "x.yaml")


def test_broken_yaml_names_the_line():
    with pytest.raises(ConfigError, match=r"x.yaml:2: not valid YAML: mapping values"):
        parse_yaml("title: t\n  bad: indent\n", Config, "x.yaml")


def test_hot_reload_takes_a_valid_change_and_keeps_the_old_config_on_a_bad_one(tmp_path):
    import os

    from shared.yamlconfig import HotReload

    path = tmp_path / "c.yaml"
    path.write_text("title: one\ntiers: []\n")
    config = HotReload(path, Config, interval_s=0)
    assert config().title == "one"
    path.write_text("title: two\ntiers: []\n")
    os.utime(path, (1, 1))
    assert config().title == "two"
    path.write_text("title: three\ntiers: [{name: x, spend: -5}]\n")
    os.utime(path, (2, 2))
    assert config().title == "two", "the running config stays in force"
    assert "tiers.0.spend" in (config.last_error or "")
