"""Pieces of benchmarks/pareto_digits.py (the sweep itself is a benchmark, not a test): the
Pareto front, the no-DSP estimate and the docs section writer."""

import sys
from pathlib import Path

import pytest

from edgeq import zoo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import pareto_digits  # noqa: E402


def _p(name, lut, acc):
    return {"format": name, "LUT": lut, "accuracy": acc}


def test_pareto_front_keeps_exactly_the_undominated_points():
    pts = [_p("a", 100, 0.90), _p("b", 150, 0.90), _p("c", 150, 0.95), _p("d", 300, 0.95),
           _p("e", 400, 0.97), _p("f", 90, 0.80), _p("g", 400, 0.96), _p("h", 100, 0.90)]
    front = pareto_digits.pareto_front(pts)
    # b: as accurate as a, dearer; d: as accurate as c, dearer; g: beaten by e; a and h tie
    assert [p["format"] for p in front] == ["f", "a", "h", "c", "e"]
    assert pareto_digits.pareto_front([]) == []


def test_logic_only_estimate_moves_every_multiplier_out_of_dsps():
    g = zoo.all_models()["mlp_int8_dyadic"]
    hw = pareto_digits.hardware(g, 64)
    assert hw["interval"] == 64 and hw["xc7_DSP"] > 0  # the reference device uses DSP48s
    from edgeq.backends.rtl import generate
    from edgeq.cost.estimate import estimate_design

    design = generate(g, {"interval": 64})
    with_dsp = estimate_design(design, pareto_digits.DEVICE).totals
    assert with_dsp["DSP"] > 0 and hw["LUT"] > with_dsp["LUT"]
    assert estimate_design(design, pareto_digits.DEVICE,
                           pareto_digits.logic_only(pareto_digits.FAMILY)).totals["DSP"] == 0


@pytest.mark.parametrize("before", ["# Doc\n\ntext\n", "# Doc\n\n<!-- t begin -->\nold\n"
                                    "<!-- t end -->\n\nafter\n"])
def test_section_is_replaced_between_its_markers(tmp_path, before):
    doc = tmp_path / "D.md"
    doc.write_text(before)
    pareto_digits.replace_section(doc, "t", "new table\n")
    pareto_digits.replace_section(doc, "t", "new table\n")  # idempotent
    text = doc.read_text()
    assert text.count("<!-- t begin -->\nnew table\n<!-- t end -->") == 1
    assert "old" not in text and text.startswith("# Doc")
    assert ("after" in text) == ("after" in before)
