"""The layers import only downwards: each package may use only the packages below it.

The check reads every module's imports with :mod:`ast` (top-level, in functions and under
``TYPE_CHECKING`` alike), so a wrong-way import fails the suite wherever it is written.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# What each package of the project may import, besides itself (docs/architecture.md).
PACKAGES: dict[str, frozenset[str]] = {
    "drivers": frozenset(),
    "firmware_sim": frozenset({"drivers"}),
    "bridge": frozenset({"drivers"}),
    "api": frozenset({"bridge", "drivers"}),
    "arsbridge": frozenset({"api", "bridge", "drivers", "firmware_sim"}),
}

# Inside bridge/: the stages from the bottom up; a module may import its own stage and the
# stages listed before it. ``bridge`` itself is the package's __init__ (VERSION).
BRIDGE_STAGES: list[frozenset[str]] = [
    frozenset({"bridge", "bridge.event"}),
    frozenset({"bridge.settings", "bridge.clock"}),
    frozenset({"bridge.mqtt"}),
    frozenset({"bridge.press"}),
    frozenset({"bridge.desk"}),
    frozenset({"bridge.tally"}),
    frozenset({"bridge.reports"}),
    frozenset({"bridge.health", "bridge.service"}),
]


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, root: Path) -> Iterator[tuple[int, str]]:
    """Every module name ``path`` imports, with its line, relative imports resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module_name(path, root).split(".")
    if path.name != "__init__.py":
        package.pop()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            yield node.lineno, prefix
            # ``from bridge import tally`` imports a subpackage by its attribute name.
            for alias in node.names:
                yield node.lineno, f"{prefix}.{alias.name}"


def _top(name: str, packages: Mapping[str, frozenset[str]]) -> str | None:
    first = name.split(".", 1)[0]
    return first if first in packages else None


def package_violations(root: Path, packages: Mapping[str, frozenset[str]] = PACKAGES) -> list[str]:
    """``file:line: a -> b`` for every import of a project package a package may not use."""
    found: list[str] = []
    for package, allowed in packages.items():
        for path in sorted((root / package).rglob("*.py")):
            for line, name in imports_of(path, root):
                target = _top(name, packages)
                if target is None or target == package or target in allowed:
                    continue
                where = path.relative_to(root)
                found.append(f"{where}:{line}: {package} -> {target} ({name})")
    return sorted(set(found))


def _stage(name: str, stages: list[frozenset[str]]) -> int | None:
    best: tuple[int, int] | None = None  # (length of the matching prefix, stage)
    for index, members in enumerate(stages):
        for member in members:
            if (name == member or name.startswith(member + ".")) and (
                best is None or len(member) > best[0]
            ):
                best = (len(member), index)
    return None if best is None else best[1]


def stage_violations(root: Path, stages: list[frozenset[str]] = BRIDGE_STAGES) -> list[str]:
    """``file:line: a -> b`` for every import inside bridge/ of a stage above the importer."""
    found: list[str] = []
    for path in sorted((root / "bridge").rglob("*.py")):
        own = _stage(module_name(path, root), stages)
        assert own is not None, f"{path} is in no stage of BRIDGE_STAGES"
        for line, name in imports_of(path, root):
            if not name.startswith("bridge"):
                continue
            target = _stage(name, stages)
            if target is not None and target > own:
                where = path.relative_to(root)
                found.append(f"{where}:{line}: {module_name(path, root)} -> {name}")
    return sorted(set(found))


def test_packages_import_only_downwards() -> None:
    assert package_violations(ROOT) == []


def test_bridge_stages_import_only_downwards() -> None:
    assert stage_violations(ROOT) == []


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_check_finds_wrong_way_imports(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "drivers/__init__.py": "",
            "drivers/codec.py": "from bridge.event import votes\n",
            "bridge/__init__.py": "",
            "bridge/event/__init__.py": "",
            "bridge/event/votes.py": "import drivers.codec\n",
            "bridge/press/__init__.py": "",
            "bridge/press/intake.py": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n"
                "    from api.app import create_app\n"
                "def later():\n"
                "    from ..tally import count\n"
            ),
            "bridge/tally/__init__.py": "",
            "bridge/tally/count.py": "from bridge.press import intake\n",
            "api/__init__.py": "",
            "api/app.py": "import firmware_sim.run\n",
            "firmware_sim/__init__.py": "",
            "firmware_sim/run.py": "from drivers import codec\n",
            "arsbridge/__init__.py": "",
            "arsbridge/cli.py": "import api.app\nimport firmware_sim.run\n",
        },
    )
    assert package_violations(tmp_path) == [
        "api/app.py:1: api -> firmware_sim (firmware_sim.run)",
        "bridge/press/intake.py:3: bridge -> api (api.app)",
        "bridge/press/intake.py:3: bridge -> api (api.app.create_app)",
        "drivers/codec.py:1: drivers -> bridge (bridge.event)",
        "drivers/codec.py:1: drivers -> bridge (bridge.event.votes)",
    ]
    stages = [
        frozenset({"bridge", "bridge.event"}),
        frozenset({"bridge.press"}),
        frozenset({"bridge.tally"}),
    ]
    assert stage_violations(tmp_path, stages) == [
        "bridge/press/intake.py:5: bridge.press.intake -> bridge.tally",
        "bridge/press/intake.py:5: bridge.press.intake -> bridge.tally.count",
    ]
