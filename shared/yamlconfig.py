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

MAX_DEPTH = 50
"""Deepest nesting of mappings and sequences, aliases followed: config files nest a handful of levels,
and PyYAML builds documents recursively (thousands of levels raise RecursionError)."""
MAX_NODES = 200_000
"""Most nodes a document may expand to, each use of an alias counted: a few aliases of aliases expand
exponentially ("billion laughs") although the text is small."""


class ConfigError(ValueError):
    """A configuration file that cannot be used; the message names each line and field."""


class ConfigTooComplex(ConfigError):
    """A document refused for its shape (too deep, too many nodes), before it is validated."""


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader refusing a document nested deeper than MAX_DEPTH while it is composed (before the
    recursion gets deep), and turning a scalar that cannot be built (a date 2024-13-45, an integer of
    5,000 digits) into a YAML error at its line."""

    def __init__(self, text: str, source: str) -> None:
        super().__init__(text)
        self.source, self.depth = source, 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                line = self.peek_event().start_mark.line + 1  # type: ignore[no-untyped-call]
                raise ConfigTooComplex(f"{self.source}:{line}: nested deeper than {MAX_DEPTH} levels")
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except yaml.YAMLError:
            raise
        except Exception as exc:  # whatever fails to build from the text is the document's fault
            raise yaml.constructor.ConstructorError(None, None, str(exc), node.start_mark) from exc


def _refuse_expansion(root: yaml.Node, source: str) -> None:
    """ConfigTooComplex when aliases make the document deeper than MAX_DEPTH, larger than MAX_NODES, or
    contain themselves. Iterative, each node sized once: the expansion itself is never built."""
    measured: dict[int, tuple[int, int]] = {}  # id(node) → (nodes, depth) of its expansion
    expanding: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_measured = stack.pop()
        line = node.start_mark.line + 1
        if not children_measured:
            if id(node) in measured:
                continue
            if id(node) in expanding:
                raise ConfigTooComplex(f"{source}:{line}: an alias refers to a node that contains it")
            expanding.add(id(node))
            stack.append((node, True))
            stack.extend((child, False) for child in _children(node))
            continue
        children = [measured[id(child)] for child in _children(node)]
        nodes, depth = 1 + sum(n for n, _ in children), 1 + max((d for _, d in children), default=0)
        if depth > MAX_DEPTH:
            raise ConfigTooComplex(f"{source}:{line}: deeper than {MAX_DEPTH} levels (aliases expanded)")
        if nodes > MAX_NODES:
            raise ConfigTooComplex(f"{source}:{line}: more than {MAX_NODES} nodes (aliases expanded)")
        expanding.discard(id(node))
        measured[id(node)] = (nodes, depth)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _load(text: str, source: str) -> tuple[yaml.Node | None, Any]:
    """The document's node tree (for line numbers) and its data, built from one parse."""
    loader = _BoundedLoader(text, source)
    try:
        tree = loader.get_single_node()
        if tree is None:
            return None, None
        _refuse_expansion(tree, source)
        return tree, loader.construct_document(tree)
    finally:
        loader.dispose()


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
    """Validate YAML text against model; raise ConfigError naming `source:line: field: problem`
    (ConfigTooComplex for a document too deep or too large to build). CPU-bound: a service parsing
    text it was sent runs this in a worker thread."""
    try:
        tree, data = _load(text, source)
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
