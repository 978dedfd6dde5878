"""The package runs over Spark Connect: no module but the classic-only ones (the session's
door, the Java errors' reader, job descriptions, Hadoop's FileSystem) reaches for the driver's
JVM (py4j, ``sparkContext``, the ``_j*`` handles) or the ``DeltaTable`` API."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "rebalance_lib"
# Starting a local session (and its log level), opening a Java error raised through py4j, job
# descriptions and Hadoop's FileSystem are classic-only by nature.
CLASSIC_ONLY = {
    PACKAGE / "storage" / "session.py",
    PACKAGE / "storage" / "java_errors.py",
    PACKAGE / "storage" / "jobs.py",
    PACKAGE / "storage" / "hadoop_fs.py",
}
FORBIDDEN = {
    "_jvm",
    "_jsc",
    "_jdf",
    "_jo",
    "_jdt",
    "_jsparkSession",
    "sparkContext",
    "py4j",
    "DeltaTable",
}


def jvm_uses(path: Path) -> list[str]:
    """``file:line name`` of every import, name, attribute or getattr string in FORBIDDEN."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import | ast.ImportFrom):
            modules = [alias.name for alias in node.names]
            if isinstance(node, ast.ImportFrom) and node.module:
                modules.append(node.module)
            names = [part for module in modules for part in module.split(".")]
        elif isinstance(node, ast.Attribute):
            names = [node.attr]
        elif isinstance(node, ast.Name):
            names = [node.id]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names = [node.value]
        found += [f"{path}:{node.lineno} {name}" for name in names if name in FORBIDDEN]
    return found


def test_no_module_but_the_classic_only_ones_uses_the_jvm() -> None:
    modules = sorted(path for path in PACKAGE.rglob("*.py") if path not in CLASSIC_ONLY)
    uses = [use for path in modules for use in jvm_uses(path)]
    assert not uses, "JVM-only code outside the classic-only modules:\n" + "\n".join(uses)


@pytest.mark.parametrize(
    "code",
    [
        "from py4j.protocol import Py4JJavaError",
        "from delta.tables import DeltaTable",
        "spark.sparkContext.setLogLevel('WARN')",
        "spark._jsparkSession.sessionState()",
        "getattr(spark, '_jvm')",
    ],
)
def test_the_scan_sees_each_kind_of_use(tmp_path: Path, code: str) -> None:
    module = tmp_path / "module.py"
    module.write_text(f"import os\n{code}\n")
    assert [use.split(" ")[0] for use in jvm_uses(module)][:1] == [f"{module}:2"]
