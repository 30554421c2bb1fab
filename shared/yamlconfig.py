"""Config as data: YAML validated by a pydantic model, errors reported with line and field path."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Generic, TypeVar

import structlog
import yaml
from pydantic import BaseModel, ValidationError

ModelT = TypeVar("ModelT", bound=BaseModel)
log = structlog.get_logger(__name__)


class ConfigError(ValueError):
    """A configuration file that cannot be used; the message names each line and field."""


def _line_of(node: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            found = next((value for key, value in node.value if key.value == part), None)
            if found is None and isinstance(part, str) and any(v.value == part for _, v in node.value):
                continue  # a union's discriminator tag (e.g. `kind: windowed_rate`), not a key
            node = found
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            break
        if node is None:
            break
        line = node.start_mark.line + 1
    return line


def parse_yaml(text: str, model: type[ModelT], source: str = "<config>") -> ModelT:
    """Validate YAML text against model; raise ConfigError naming `source:line: field: problem`."""
    try:
        tree = yaml.compose(text, Loader=yaml.SafeLoader)
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        raise ConfigError(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from exc
    try:
        return model.model_validate(data if data is not None else {})
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            loc = tuple(error["loc"])
            line = _line_of(tree, loc)
            field = ".".join(str(p) for p in loc) or "(top level)"
            problems.append(f"{source}:{line or '?'}: {field}: {error['msg']}")
        raise ConfigError("\n".join(problems)) from exc


def load_yaml(path: Path, model: type[ModelT]) -> ModelT:
    return parse_yaml(path.read_text(encoding="utf-8"), model, str(path))


class HotReload(Generic[ModelT]):
    """The current config from `path`, re-read when the file changes (checked at most every `interval_s`).

    A changed file that does not validate is refused: its error is kept in `last_error`, logged, and the
    config in force stays in force.
    """

    def __init__(self, path: Path, model: type[ModelT], interval_s: float = 5.0) -> None:
        self.path, self.model, self.interval_s = path, model, interval_s
        self.current = load_yaml(path, model)
        self.last_error: str | None = None
        self._mtime = path.stat().st_mtime
        self._checked = time.monotonic()

    def __call__(self) -> ModelT:
        now = time.monotonic()
        if now - self._checked >= self.interval_s:
            self._checked = now
            self._maybe_reload()
        return self.current

    def _maybe_reload(self) -> None:
        try:
            mtime = self.path.stat().st_mtime
        except OSError as exc:
            self.last_error = f"{self.path}: {exc}"
            return
        if mtime == self._mtime:
            return
        self._mtime = mtime
        try:
            self.current = load_yaml(self.path, self.model)
            self.last_error = None
            log.info("config_reloaded", path=str(self.path))
        except (ConfigError, OSError) as exc:
            self.last_error = str(exc)
            log.error("config_refused", path=str(self.path), error=str(exc))
