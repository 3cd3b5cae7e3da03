"""The README's Python example runs as written."""

import re
import runpy
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_python_example_runs(tmp_path, monkeypatch, capsys):
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert blocks, "README.md has no Python example"
    monkeypatch.chdir(tmp_path)
    for i, code in enumerate(blocks):
        script = tmp_path / f"example{i}.py"
        script.write_text(code)
        runpy.run_path(str(script), run_name="__main__")
    assert (tmp_path / "tiny.edgeq").is_file()
    assert "[[ 32 -16  64   0]]" in capsys.readouterr().out  # 0.5/2**-6 = 32, ...
