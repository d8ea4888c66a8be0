"""The shape of the code base: one import name, small modules, short functions.

These are the limits the style guide sets (modules past about 400 lines or functions past
about 60 ask to be split); a change that crosses one fails here instead of in review.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_DIRS = (ROOT / "service" / "rbc1000", ROOT / "training" / "rbc1000")
CODE_DIRS = (*PACKAGE_DIRS, ROOT / "tests", ROOT / "bench")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def _python_files() -> list[Path]:
    return sorted(p for d in CODE_DIRS for p in d.rglob("*.py") if ".venv" not in p.parts)


def test_every_module_is_at_most_400_lines() -> None:
    sizes = {str(p.relative_to(ROOT)): len(p.read_text().splitlines()) for p in _python_files()}
    assert {name: n for name, n in sizes.items() if n > MAX_MODULE_LINES} == {}


def test_every_function_is_at_most_60_lines() -> None:
    long: dict[str, int] = {}
    for path in _python_files():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long[f"{path.relative_to(ROOT)}:{node.lineno} {node.name}"] = lines
    assert long == {}


def test_the_namespace_has_no_init_and_one_name() -> None:
    # rbc1000 is a PEP 420 namespace split over service/ and training/: an __init__.py in
    # either half would hide the other half.
    for half in PACKAGE_DIRS:
        assert not (half / "__init__.py").exists(), half
    wheel = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"]["targets"]["wheel"]
    assert {Path(p).name for p in wheel["packages"]} == {"rbc1000"}


@pytest.mark.parametrize("name", ["schemas", "models"])
def test_package_data_links_resolve_to_the_top_level_folders(name: str) -> None:
    link = ROOT / "service" / "rbc1000" / "assets" / name
    assert link.is_symlink() and link.resolve() == (ROOT / name).resolve()
