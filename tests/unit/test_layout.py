"""The rules the package layout keeps, checked by reading every module's imports.

The folders are the architecture (see ``docs/architecture.md``): the pure core decides, the
shell packages do I/O, ``app`` holds the use cases and the front ends only call them. Nothing
but this test stops a convenient import from quietly undoing that, so each rule is checked
here, and each check is first run against a small broken tree to show that it does fail.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = "acchub_mailbot"
ROOT = Path(__file__).resolve().parents[2] / PACKAGE

#: A module longer than this needs a docstring that says why.
MAX_LINES = 400

#: Pure third-party libraries the core may use: parsing only, no I/O of its own.
CORE_LIBRARIES = frozenset({"mailparser"})

#: Standard-library modules that do I/O: the core may not use them either.
IO_STDLIB = (
    "socket",
    "ssl",
    "select",
    "selectors",
    "asyncio",
    "smtplib",
    "imaplib",
    "poplib",
    "ftplib",
    "http",
    "urllib.request",
    "sqlite3",
    "subprocess",
    "multiprocessing",
    "shutil",
)

#: Packages that are front ends: they call ``app`` and never reach the database themselves.
FRONT_ENDS = ("cli", "web")

#: Shell packages at the edge: they serve the use cases and never call back up into them.
EDGES = ("mail", "verify", "store", "report", "sso")

#: How a long module's docstring gives its reason: "longer than 400 lines because ...".
LENGTH_REASON = re.compile(r"\b(longer than|over|more than) (about )?\d+ lines\b", re.IGNORECASE)


@dataclass(frozen=True)
class Import:
    """One import statement: who imports what, and on which line."""

    module: str
    target: str
    line: int


def module_name(path: Path, root: Path) -> str:
    parts = [root.name, *path.relative_to(root).with_suffix("").parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules(root: Path) -> dict[str, Path]:
    """Every module of the package except Alembic's migration scripts (run by Alembic)."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        if "migrations" in path.relative_to(root).parts:
            continue
        found[module_name(path, root)] = path
    return found


def imports(root: Path) -> Iterator[Import]:
    """Every import in every module, also those inside functions: a lazy import is a
    dependency all the same, and hiding one in a function body does not break a circle."""
    known = modules(root)
    for name, path in known.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield Import(name, alias.name, node.lineno)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = name.split(".")
                    base = base[: len(base) - node.level + (1 if is_package else 0)]
                    source = ".".join([*base, node.module] if node.module else base)
                else:
                    source = node.module or ""
                for alias in node.names:
                    submodule = f"{source}.{alias.name}"
                    yield Import(name, submodule if submodule in known else source, node.lineno)


def package_of(module: str) -> str:
    """``acchub_mailbot.core.links`` -> ``core``; a top-level module is its own package."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def top_name(module: str) -> str:
    return module.split(".")[0]


def is_stdlib(module: str) -> bool:
    return top_name(module) in sys.stdlib_module_names or top_name(module) == "__future__"


def does_io(module: str) -> bool:
    return any(module == name or module.startswith(f"{name}.") for name in IO_STDLIB)


def core_impurities(root: Path) -> list[str]:
    """The core and the handlers decide over plain data: the standard library, parsing
    libraries and each other only; no I/O library and nothing from the shell."""
    found = []
    for imp in imports(root):
        where = package_of(imp.module)
        if where not in ("core", "handlers"):
            continue
        allowed_own = ("core",) if where == "core" else ("core", "handlers")
        if top_name(imp.target) == root.name:
            if package_of(imp.target) not in allowed_own:
                found.append(f"{imp.module}:{imp.line} imports {imp.target}")
        elif does_io(imp.target) or (
            not is_stdlib(imp.target) and top_name(imp.target) not in CORE_LIBRARIES
        ):
            found.append(f"{imp.module}:{imp.line} imports {imp.target}")
    return found


def front_end_shortcuts(root: Path) -> list[str]:
    """Front ends go through ``app``: no session, query or model of their own."""
    found = []
    for imp in imports(root):
        if package_of(imp.module) not in FRONT_ENDS:
            continue
        reaches_store = imp.target == f"{root.name}.store" or imp.target.startswith(
            f"{root.name}.store."
        )
        if reaches_store or top_name(imp.target) in ("sqlalchemy", "alembic"):
            found.append(f"{imp.module}:{imp.line} imports {imp.target}")
    return found


def upward_imports(root: Path) -> list[str]:
    """The edges serve the use cases and the use cases serve the front ends, never backwards."""
    above = {edge: ("app", "service", *FRONT_ENDS) for edge in EDGES}
    above["app"] = ("service", *FRONT_ENDS)
    found = []
    for imp in imports(root):
        forbidden = above.get(package_of(imp.module), ())
        if top_name(imp.target) == root.name and package_of(imp.target) in forbidden:
            found.append(f"{imp.module}:{imp.line} imports {imp.target}")
    return found


def cycles(root: Path) -> list[list[str]]:
    """Import circles between modules (strongly connected components of the import graph)."""
    graph: dict[str, set[str]] = {name: set() for name in modules(root)}
    for imp in imports(root):
        if imp.target in graph and imp.target != imp.module:
            graph[imp.module].add(imp.target)
    return [sorted(component) for component in _components(graph) if len(component) > 1]


def _components(graph: dict[str, set[str]]) -> Iterable[list[str]]:
    """Tarjan's algorithm, iteratively (the graph is small, but recursion depth is not ours)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    yield component
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph[child]))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])


def long_modules_without_reason(root: Path) -> list[str]:
    found = []
    for name, path in modules(root).items():
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines <= MAX_LINES:
            continue
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        if not LENGTH_REASON.search(" ".join(doc.split())):
            found.append(f"{name}: {lines} lines and no reason in its docstring")
    return found


# -- the rules, on the real package ----------------------------------------------------------


def test_the_core_is_pure() -> None:
    assert core_impurities(ROOT) == []


def test_front_ends_go_through_the_application_layer() -> None:
    assert front_end_shortcuts(ROOT) == []


def test_no_package_imports_the_layers_above_it() -> None:
    assert upward_imports(ROOT) == []


def test_there_are_no_import_cycles() -> None:
    assert cycles(ROOT) == []


def test_long_modules_say_why() -> None:
    assert long_modules_without_reason(ROOT) == []


def test_the_package_is_read_whole() -> None:
    """The rules above see every package; a checker that read nothing would pass them all."""
    packages = {package_of(name) for name in modules(ROOT)}
    assert {"core", "handlers", "mail", "verify", "store", "app", "service", "cli"} <= packages
    assert sum(1 for _ in imports(ROOT)) > 200


# -- the checks fail when a rule is broken ----------------------------------------------------


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / PACKAGE
    for name, text in {"__init__.py": "", **files}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        (path.parent / "__init__.py").touch()
        path.write_text(text, encoding="utf-8")
    return root


@pytest.mark.parametrize(
    ("source", "line", "target"),
    [
        ("import sqlalchemy\n", 1, "sqlalchemy"),
        ("def f():\n    import socket\n", 2, "socket"),
        ("from urllib.request import urlopen\n", 1, "urllib.request"),
        ("from acchub_mailbot.store import models\n", 1, f"{PACKAGE}.store.models"),
        ("from acchub_mailbot.handlers.base import Decision\n", 1, f"{PACKAGE}.handlers.base"),
        ("from ..mail import inbox\n", 1, f"{PACKAGE}.mail.inbox"),
    ],
)
def test_an_impure_core_is_caught(tmp_path: Path, source: str, line: int, target: str) -> None:
    root = _tree(
        tmp_path,
        {
            "core/links.py": source,
            "core/urlrules.py": "import re\nimport mailparser\nfrom . import links\n",
            "store/models.py": "",
            "handlers/base.py": "from acchub_mailbot.core import links\n",
            "mail/inbox.py": "",
        },
    )
    assert core_impurities(root) == [f"{PACKAGE}.core.links:{line} imports {target}"]


def test_a_front_end_reaching_the_database_is_caught(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "cli/clients.py": "from acchub_mailbot.app import clients\n",
            "cli/status.py": "def f():\n    from sqlalchemy import select\n",
            "web/pages.py": "from acchub_mailbot.store.models import Client\n",
            "app/clients.py": "from acchub_mailbot.store import models\n",
            "store/models.py": "",
        },
    )
    assert front_end_shortcuts(root) == [
        f"{PACKAGE}.cli.status:2 imports sqlalchemy",
        f"{PACKAGE}.web.pages:1 imports {PACKAGE}.store.models",
    ]


def test_an_upward_import_is_caught(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "store/models.py": "from acchub_mailbot.app import poll\n",
            "app/poll.py": "from acchub_mailbot.service.health import Metrics\n",
            "service/health.py": "from acchub_mailbot.app import poll\n",
        },
    )
    assert upward_imports(root) == [
        f"{PACKAGE}.app.poll:1 imports {PACKAGE}.service.health",
        f"{PACKAGE}.store.models:1 imports {PACKAGE}.app.poll",
    ]


def test_an_import_cycle_is_caught(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "cli/main.py": "from acchub_mailbot.cli.auth import auth\n",
            "cli/auth.py": "def f():\n    from acchub_mailbot.cli import main\n",
            "cli/common.py": "from acchub_mailbot.cli import auth\n",
        },
    )
    assert cycles(root) == [[f"{PACKAGE}.cli.auth", f"{PACKAGE}.cli.main"]]


def test_a_long_module_without_a_reason_is_caught(tmp_path: Path) -> None:
    body = "x = 1\n" * MAX_LINES
    root = _tree(
        tmp_path,
        {
            "core/short.py": '"""Short."""\n',
            "core/long.py": '"""Parses things."""\n' + body,
            "core/explained.py": '"""Parses things; longer than 400 lines: one proof."""\n' + body,
        },
    )
    assert long_modules_without_reason(root) == [
        f"{PACKAGE}.core.long: {MAX_LINES + 1} lines and no reason in its docstring"
    ]
