"""Guards for the source-root layout described in DESIGN.md."""

import platform
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_stdlib_platform_is_not_shadowed():
    stdlib = Path(sysconfig.get_paths()["stdlib"]).resolve()
    assert Path(platform.__file__).resolve().parent == stdlib
    assert platform.python_version() == ".".join(map(str, sys.version_info[:3]))


def test_source_roots_are_not_packages():
    assert not (ROOT / "platform" / "__init__.py").exists()
    assert not (ROOT / "docker" / "__init__.py").exists()


def test_ml_never_imports_django():
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "ml").rglob("*.py")
        if any(
            line.lstrip().startswith(("import django", "from django"))
            for line in path.read_text().splitlines()
        )
    ]
    assert offenders == []
