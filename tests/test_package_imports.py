"""The layout's rules, read from the source: no import cycle between frontdesk's top-level packages, and the core
(conversations, transcripts, handoff, outbox) never imports a channel. Every import counts, also those made inside a
function or under `if TYPE_CHECKING:`: a cycle hidden from the interpreter is still one a reader has to untangle."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "frontdesk"
CORE = ("conversations", "transcripts", "handoff", "outbox")

# docs/architecture.md "Layout": each row imports only from the rows below it, and within a row only along ACROSS.
# The last row is the base: its modules may import each other (without a cycle). A new package gets a row here.
LAYERS: list[frozenset[str]] = [
    frozenset({"cli"}),
    frozenset({"app"}),
    frozenset({"console", "stored_secrets", "http_guard", "migrations"}),
    frozenset({"integrations"}),
    frozenset({"channels"}),
    # conversations/: the turn and the team's actions, above everything the turn asks (agent, handoff, inbox)
    frozenset({"conversations"}),
    frozenset({"handoff"}),
    frozenset({"metrics", "inbox"}),
    frozenset({"knowledge", "agent"}),
    # transcripts/: a conversation's record and its state machine, low enough for knowledge's labels to read
    frozenset({"transcripts"}),
    # outbox/: the rows and the worker's loop; the Channel interface (in transcripts) names its Delivery protocol
    frozenset({"outbox"}),
    # retrieval/: text processing, embedders, the index and its confidence, under knowledge and agent (item 5)
    frozenset({"users", "credentials", "realtime", "rich_text", "retrieval"}),
    frozenset({"deps", "pages", "params", "db", "config", "vault", "crashpoints", "security_headers", "api_docs",
               "token_bucket", "__version__"}),
]  # fmt: skip
ACROSS = frozenset({("metrics", "inbox"), ("agent", "knowledge"), ("users", "realtime")})

Edges = dict[str, dict[str, set[str]]]  # package → imported package → the files that import it


def _module_of(path: Path, root: Path) -> list[str]:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return parts[:-1] if parts[-1] == "__init__" else parts


def _imported(path: Path, root: Path, tree: ast.AST) -> set[str]:
    """Every frontdesk module a file imports, absolute (`from . import x` resolved against the file's package)."""
    module = _module_of(path, root)
    package = module if path.name == "__init__.py" else module[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            name = ".".join([*base, *([node.module] if node.module else [])])
            found.add(name)
            found.update(f"{name}.{alias.name}" for alias in node.names)
    return {name for name in found if name.split(".")[0] == "frontdesk"}


def import_graph(root: Path = PACKAGE) -> Edges:
    """Which top-level package (or module: `deps`, `pages`) of frontdesk imports which, with the files that do."""
    edges: Edges = defaultdict(lambda: defaultdict(set))
    for path in sorted(root.rglob("*.py")):
        source = _module_of(path, root)
        if len(source) < 2:
            continue  # frontdesk/__init__.py
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for name in _imported(path, root, tree):
            parts = name.split(".")
            if len(parts) > 1 and parts[1] != source[1]:
                edges[source[1]][parts[1]].add(str(path.relative_to(root.parent)))
    return edges


def cycles(edges: Edges) -> list[list[str]]:
    """The strongly connected groups of more than one package (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in edges.get(node, {}):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def describe(group: list[str], edges: Edges) -> str:
    lines = [" ↔ ".join(group)]
    for source in group:
        for target in group:
            if target in edges.get(source, {}):
                lines.append(f"  {source} → {target}: {', '.join(sorted(edges[source][target]))}")
    return "\n".join(lines)


def test_no_import_cycle_between_top_level_packages() -> None:
    edges = import_graph()

    found = cycles(edges)

    assert not found, "import cycles between packages:\n" + "\n".join(describe(group, edges) for group in found)


def test_each_package_imports_only_from_the_rows_below_its_own() -> None:
    row = {name: index for index, names in enumerate(LAYERS) for name in names}
    base = len(LAYERS) - 1
    edges = import_graph()
    unplaced = sorted({name for source, targets in edges.items() for name in (source, *targets)} - set(row))
    wrong = [
        f"{source} → {target}: {', '.join(sorted(files))}"
        for source, targets in sorted(edges.items())
        for target, files in sorted(targets.items())
        if source in row and target in row and row[target] <= row[source]
        if not (row[source] == row[target] == base or (source, target) in ACROSS)
    ]

    assert not unplaced, f"packages in no row of LAYERS (and of docs/architecture.md): {unplaced}"
    assert not wrong, "imports up or across a row:\n" + "\n".join(wrong)


@pytest.mark.parametrize("core", CORE)
def test_the_core_never_imports_a_channel(core: str) -> None:
    importers = import_graph().get(core, {}).get("channels", set())

    assert not importers, f"{core} imports channels in {sorted(importers)}: go through the Channel interface"


def test_the_graph_sees_a_cycle_and_a_channel_import_it_is_shown(tmp_path: Path) -> None:
    root = tmp_path / "frontdesk"
    for path, source in {
        "__init__.py": "",
        "a/__init__.py": "",
        "a/service.py": "from frontdesk.b import service\n",
        "b/__init__.py": "",
        "b/service.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..a.service import x\n",
        "conversations/__init__.py": "",
        "conversations/turn.py": "def later():\n    import frontdesk.channels.sms\n",
        "channels/__init__.py": "",
    }.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(source)

    edges = import_graph(root)

    assert cycles(edges) == [["a", "b"]]
    assert "channels" in edges["conversations"]
    assert set(edges["b"]["a"]) == {"frontdesk/b/service.py"}
