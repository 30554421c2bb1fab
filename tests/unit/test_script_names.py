"""`python scripts/stack.py` puts scripts/ first on sys.path, so a module there named like a standard-library
module (platform.py did) replaces it for everything the script imports."""

from __future__ import annotations

import sys
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def test_no_script_module_shadows_the_standard_library():
    names = {p.stem for p in SCRIPTS.glob("*.py")} | {p.name for p in SCRIPTS.iterdir() if p.is_dir()}
    assert sorted(names & set(sys.stdlib_module_names)) == []
