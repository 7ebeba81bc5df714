"""The design's boundaries, read from the source: what each module may import, and no cycle."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "ivr"
SOFTPHONE = ROOT / "softphone" / "src" / "softphone"  # the phone's own distribution


def module_name(path):
    base = SOFTPHONE.parent if path.is_relative_to(SOFTPHONE) else PACKAGE.parent
    parts = path.relative_to(base).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {
    module_name(path): path
    for package in (PACKAGE, SOFTPHONE)
    for path in sorted(package.rglob("*.py"))
}


def imports(name):
    """Every module a module imports, at any depth in its body (lazy imports count too)."""
    found = set()
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            base = node.module
            if node.level:  # relative: from the module's package
                package = name if MODULES[name].name == "__init__.py" else name.rpartition(".")[0]
                base = ".".join([*package.split(".")[: len(package.split(".")) - node.level + 1]])
                base = f"{base}.{node.module}" if node.module else base
            submodules = {f"{base}.{alias.name}" for alias in node.names} & set(MODULES)
            found |= submodules or {base}  # `from ivr import identity` needs ivr.identity
    return found


def ours(name):
    """The modules of ivr and the softphone that a module imports."""
    return {target for target in imports(name) if target in MODULES and target != name}


def test_no_import_cycle():
    graph = {name: ours(name) for name in MODULES}
    done, path = set(), []

    def visit(name):
        if name in path:
            cycle = path[path.index(name) :] + [name]
            pytest.fail("import cycle: " + " -> ".join(cycle))
        if name in done:
            return
        path.append(name)
        for target in sorted(graph[name]):
            visit(target)
        path.pop()
        done.add(name)

    for name in MODULES:
        visit(name)


def importers_of(prefix):
    return sorted(
        name
        for name in MODULES
        if any(target == prefix or target.startswith(prefix + ".") for target in imports(name))
    )


def test_only_twiml_builds_twiml():
    assert [m for m in importers_of("twilio.twiml") if not m.startswith("softphone")] == [
        "ivr.twiml"
    ]


def test_only_the_store_speaks_sql():
    assert importers_of("sqlalchemy") == ["ivr.store"]


@pytest.mark.parametrize(
    "name",
    (
        "ivr.flow",
        "ivr.dialog",
        "ivr.types",
        "ivr.money",
        "ivr.spoken",
        "ivr.spoken.zh",
        "ivr.spoken.en",
        "softphone.interpreter",
    ),
)
def test_the_pure_core_knows_neither_flask_nor_twilio(name):
    assert not {t for t in imports(name) if t.split(".")[0] in ("flask", "twilio", "werkzeug")}


def test_the_softphone_imports_nothing_of_the_hotline():
    for name in MODULES:
        if name.startswith("softphone"):
            hotline = {t for t in ours(name) if not t.startswith("softphone")}
            assert not hotline, f"{name} imports {sorted(hotline)}"


def test_no_current_app_below_the_routes():
    routes_and_commands = {
        "ivr",
        "ivr.voice",
        "ivr.web",
        "ivr.audio",
        "ivr.accounts",
        "ivr.flowmap",
        "ivr.health",
    }
    for name, path in MODULES.items():
        if name not in routes_and_commands:
            assert "current_app" not in path.read_text(encoding="utf-8"), name


def test_the_dialog_and_the_actions_share_types_not_each_other():
    assert "ivr.actions" not in ours("ivr.dialog")
    assert "ivr.dialog" not in ours("ivr.actions")
    assert "ivr.types" in ours("ivr.dialog") & ours("ivr.actions")


def readme_map():
    """The README's "Where things are" table: module -> the ivr modules it may import."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Where things are", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith(("`ivr/", "`softphone/")):
            path = cells[0].split("`")[1]
            name = module_name(ROOT / path) if path.endswith(".py") else None
            if path == "ivr/spoken/":
                name = "ivr.spoken"
            items = [item.strip() for item in cells[2].split(",") if item.strip()]
            rows[name] = {i if i.startswith("softphone") else f"ivr.{i}" for i in items}
    return rows


def test_the_readme_maps_every_module_with_what_it_may_import():
    rows = readme_map()
    for name in MODULES:
        if name in ("softphone", "ivr.spoken.zh", "ivr.spoken.en"):
            continue  # a package's __init__ and the spoken languages share their package's row
        assert name in rows, f"{name} has no row in the README's 'Where things are'"
        undeclared = ours(name) - rows[name]
        assert not undeclared, f"{name} imports {sorted(undeclared)}, which its row does not name"
