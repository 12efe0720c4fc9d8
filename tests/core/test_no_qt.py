"""cgan_core never imports Qt (napari enforces the same split for its components)."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import sys
import cgan_core.cli.main, cgan_core.run.training_run, cgan_core.step.trainer
import cgan_core.output.classifier, cgan_core.output.sampling
from cgan_core.cli.main import main
rc = main(["train", "--preset", "mlp-label-concat", "--batch-size", "8", "--steps", "2", "--out", sys.argv[1]])
assert rc == 0, rc
qt = sorted(m for m in sys.modules if m.split(".")[0] in ("PySide6", "shiboken6", "PyQt5", "PyQt6", "pyqtgraph", "studio"))
print("QT:", qt)
sys.exit(1 if qt else 0)
"""


def test_cgan_core_loads_no_qt(tmp_path):
    result = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "run")], capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "QT: []" in result.stdout


def _tool(name: str) -> list[str]:
    return [str(Path(sys.executable).with_name(name))]


def test_layering_contract_holds():
    """import-linter, statically (function-level imports too): cgan_core imports neither studio nor Qt, and each
    of its packages imports only those below it."""
    result = subprocess.run(_tool("lint-imports") + ["--config", str(ROOT / "pyproject.toml")], capture_output=True,
                            text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "7 kept, 0 broken" in result.stdout  # Qt-free, the layers, inside output and step, and the studio's


def test_cgan_core_has_no_import_circle():
    """Issue 44: output/metrics.py took frechet_distance from evaluate.py, which reached back through
    independent.py; schemes called back into the trainer. No module of the engine now imports, even
    inside a function, one that imports it back (the strongly connected parts of its import graph)."""
    import grimp

    graph = grimp.build_graph("cgan_core")
    imports = {m: {i for i in graph.find_modules_directly_imported_by(m) if i.startswith("cgan_core")}
               for m in graph.modules}
    circles = sorted(m for m, imported in imports.items()
                     if any(graph.chain_exists(importer=i, imported=m) for i in imported if i != m))
    assert not circles, f"import circles through {circles[:6]}"


def test_the_code_passes_ruff():
    result = subprocess.run(_tool("ruff") + ["check", "."], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_studio_uses_only_the_public_engine_api():
    """No `run.trainer`, no `._private` attribute of anything the engine returns, in studio/."""
    import re

    for path in (ROOT / "studio").rglob("*.py"):
        text = path.read_text()
        assert ".trainer" not in text, f"{path.name} reaches into the run's trainer"
        private = [m for m in re.findall(r"(\w+)\._[a-z]\w*", text) if m not in ("self", "super", "cls")]
        assert not private, f"{path.name} touches private attributes of {private}"


def test_only_the_run_folders_reader_and_writer_name_its_files():
    """Issue 44: a run folder's files were named and parsed in fifteen places (each new column had to be taught
    to each). Its names are now layout.py's; the engine, the studio, the benchmarks and the screenshot script
    ask folder_reader.py (or write through folder_writer.py). An export's default file name is not a run's."""
    import re

    named = re.compile(r'"(metrics\.csv|events\.jsonl|config\.json|quality\.csv|(generator|best)\.safetensors|journal\.json'
                       r'|writer\.lock)"|/ "(checkpoints|grids|control|variants|abandoned)"')
    allowed = {"cgan_core/run/layout.py", "studio/tools/explorer_export.py"}  # the names; a Save dialog's default
    found = [f"{path.relative_to(ROOT)}:{n}" for folder in ("cgan_core", "studio", "benchmarks", "docs")
             for path in (ROOT / folder).rglob("*.py") if str(path.relative_to(ROOT)) not in allowed
             for n, line in enumerate(path.read_text().splitlines(), 1) if named.search(line)]
    assert not found, f"run files named outside the reader and writer: {found[:8]}"
