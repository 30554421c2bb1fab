"""docs/architecture.md maps every module of the services and of shared/ in one line, from its docstring:
the map is current and no module goes without saying what it does."""

from __future__ import annotations

from scripts import modulemap


def test_the_module_map_in_the_architecture_doc_is_current():
    text = modulemap.DOC.read_text()
    assert modulemap.rewritten(text) == text, "run `python -m scripts.modulemap`"


def test_every_module_says_what_it_does():
    silent = [
        str(module.relative_to(modulemap.ROOT))
        for package in [*(modulemap.ROOT / "services").iterdir(), modulemap.ROOT / "shared"]
        if (package / "__init__.py").exists()
        for module in modulemap.modules(package)
        if modulemap.first_sentence(module) is None
    ]
    assert silent == []
