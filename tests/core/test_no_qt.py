"""cgan_core never imports Qt (napari enforces the same split for its components)."""
import subprocess
import sys

SCRIPT = r"""
import sys
import cgan_core.cli, cgan_core.run, cgan_core.trainer, cgan_core.classifier, cgan_core.sampling
from cgan_core.cli import main
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
