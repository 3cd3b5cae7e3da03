"""The digits examples, trained briefly: the IR golden equals Brevitas on every test element."""

import pytest
import torch

from edgeq.quant.qat import PRESETS, Preset, parse_format, preset
from edgeq.quant.qat.digits import load_digits, train_digits

EXAMPLES = [("mlp", "int8"), ("mlp", "int6"), ("mlp", "int4"), ("mlp", "e4m3"), ("mlp", "e3m2"),
            ("mlp", "e2m1"), ("cnn", "int4"), ("cnn", "int8")]


@pytest.fixture(scope="module")
def data():
    return {"mlp": load_digits(), "cnn": load_digits(image=True)}


@pytest.mark.parametrize(("arch", "name"), EXAMPLES)
def test_example_is_bit_exact_on_its_whole_test_set(arch, name, data):
    d = data[arch]
    result = train_digits(arch, name, float_epochs=3, qat_epochs=1, data=d)
    assert result.agreement.total == len(d.y_test) * 10
    assert result.agreement.bit_exact, str(result.agreement)
    assert result.ir_accuracy == result.brevitas_accuracy
    assert result.ir_accuracy > 0.6, result.summary()  # it did learn something


def test_presets_parse_and_refuse():
    assert set(PRESETS) >= {"int8", "int6", "int4", "e4m3", "e3m2", "e2m1", "e2m3", "e5m2"}
    assert preset("int12").weights == "int12"
    assert parse_format("e5m2_ieee").max_int == 7 << 29
    assert Preset("int4", activations="int8").name == "wint4_aint8"
    for bad, message in (("int1", "2..16"), ("int17", "2..16"), ("uint8", "sign"),
                         ("ue4m3", "signed"), ("fp8", "unknown element type")):
        with pytest.raises(ValueError, match=message):
            Preset(bad)
    with pytest.raises(ValueError, match="scaling"):
        Preset("int8", scaling="log")


def test_minifloat_residual_is_refused_clearly():
    from torch import nn

    from edgeq.quant.qat import quantize_model

    class Residual(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(8, 8), nn.Linear(8, 8)

        def forward(self, x):
            h = torch.relu(self.a(x))
            return self.b(torch.relu(h + self.a(h)))

    with pytest.raises(ValueError, match="residual add in minifloat"):
        quantize_model(Residual(), "e4m3")
