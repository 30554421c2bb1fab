"""A bad configuration file is refused with its line and field named."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, Field

from shared.yamlconfig import MAX_DEPTH, MAX_NODES, ConfigError, ConfigTooComplex, parse_yaml


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


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("title: t\ntiers: " + "[" * 5000 + "]" * 5000 + "\n", 2),  # flow style: once a RecursionError
        ("title: t\ntiers:\n  " + "- " * 5000 + "x\n", 3),  # block style
    ],
)
def test_nesting_deeper_than_the_limit_is_refused_at_its_line_before_it_is_built(text, line):
    with pytest.raises(ConfigTooComplex, match=rf"^x.yaml:{line}: nested deeper than {MAX_DEPTH} levels"):
        parse_yaml(text, Config, "x.yaml")


def test_aliases_expanding_past_the_limits_are_refused_without_being_expanded():
    shared = parse_yaml("base: &gold {name: gold, spend: 5}\ntitle: t\ntiers: [*gold, *gold]\n", Config)
    assert [t.name for t in shared.tiers] == ["gold", "gold"]  # within the limits: fine
    laughs = (
        "a: &a ["
        + ", ".join(["lol"] * 30)
        + "]\n"
        + "".join(
            f"{c}: &{c} [{', '.join([f'*{p}'] * 30)}]\n" for p, c in zip("abcdef", "bcdefg", strict=True)
        )
    )  # 30^7 nodes
    with pytest.raises(ConfigTooComplex, match=rf"more than {MAX_NODES} nodes"):
        parse_yaml(laughs, Config, "x.yaml")
    deep = "a: &a " + "[" * 30 + "]" * 30 + "\nb: " + "[" * 30 + "*a" + "]" * 30 + "\n"
    with pytest.raises(ConfigTooComplex, match=r"x.yaml:2: deeper than"):
        parse_yaml(deep, Config, "x.yaml")
    with pytest.raises(ConfigTooComplex, match=r"refers to a node that contains it"):
        parse_yaml("a: &a [*a]\n", Config, "x.yaml")


@pytest.mark.parametrize(("value", "problem"), [("2024-13-45", "month must be in"), ("1" * 5000, "digits")])
def test_a_scalar_that_cannot_be_built_is_refused_at_its_line(value, problem):
    with pytest.raises(ConfigError, match=rf"x.yaml:3: not valid YAML: .*{problem}"):
        parse_yaml(f"title: t\ntiers: []\nwhen: {value}\n", Config, "x.yaml")
