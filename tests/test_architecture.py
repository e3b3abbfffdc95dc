"""The package's dependency rule (docs/architecture.md), checked on every import statement in segattn/.

Each part may import only the parts listed for it below; anything else, in particular any import of the command
layer from outside it, fails with the file, the line and the rule it breaks. Imports inside functions count too:
a lazy import still makes the loop.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "segattn"

BASE = {"segattn", "files", "labels", "signatures", "runtime", "pretrained"}  # no segattn imports of their own
ALLOWED: dict[str, set[str]] = {
    **{name: {"segattn"} for name in BASE},
    "pretrained": {"segattn", "files"},  # strip.py writes the packaged file atomically
    "attention": BASE,
    "models": BASE | {"attention"},
    "scoring": BASE,
    "data": BASE,
    "losses": BASE,
    "metrics": BASE | {"scoring"},
    "schedules": BASE,
    "module": BASE | {"attention", "models", "scoring", "losses", "metrics", "schedules"},
    "reports": BASE | {"scoring", "data"},
    "callbacks": BASE | {"scoring", "reports", "models", "module", "explain"},
    "predict": BASE | {"models", "attention", "data"},
    "explain": BASE | {"predict", "models", "attention", "data", "reports"},
    "export": BASE | {"models", "attention", "data", "predict"},
    "commands": None,  # the top: may import anything
    "__main__": {"commands"},
}


def part_of(module: str) -> str:
    """``segattn.data.io`` -> ``data``; ``segattn`` -> ``segattn``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "segattn"


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every ``segattn`` import in ``path``, relative ones resolved."""
    module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "segattn"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                name = f"{base}.{node.module}" if node.module else base
            else:
                name = node.module or ""
            if name.split(".")[0] == "segattn":
                found.append((node.lineno, name))
    return found


FILES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(PACKAGE)) for p in FILES])
def test_each_part_imports_only_the_parts_below_it(path: Path) -> None:
    own = part_of(".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__"))
    allowed = ALLOWED[own]
    if allowed is None:
        return
    for line, name in imports(path):
        target = part_of(name)
        assert target == own or target in allowed, (
            f"{path.relative_to(PACKAGE.parent)}:{line} imports {name}: the {own!r} part may import only "
            f"{sorted(allowed)} (docs/architecture.md)"
        )


def test_every_part_is_in_the_rule() -> None:
    modules = {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert modules | packages <= set(ALLOWED), sorted((modules | packages) - set(ALLOWED))


def test_the_rule_catches_a_backward_import(tmp_path: Path) -> None:
    # the walker sees relative and lazy imports alike
    code = "def f():\n    from ..commands import main\n    from segattn.commands.train import lightning_cli\n"
    (tmp_path / "segattn" / "data").mkdir(parents=True)
    fake = tmp_path / "segattn" / "data" / "x.py"
    fake.write_text(code)
    global PACKAGE
    real, PACKAGE = PACKAGE, tmp_path / "segattn"
    try:
        assert [name for _, name in imports(fake)] == ["segattn.commands", "segattn.commands.train"]
        with pytest.raises(AssertionError, match="may import only"):
            test_each_part_imports_only_the_parts_below_it(fake)
    finally:
        PACKAGE = real
