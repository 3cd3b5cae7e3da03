import numpy as np

from edgeq import golden, zoo
from edgeq.cli import main
from edgeq.ir import save


def test_zoo_models_run_and_round_trip(tmp_path):
    from edgeq.ir import load

    for name, graph in zoo.all_models().items():
        x = golden.random_inputs(graph, 50, seed=3)
        y = golden.run(graph, x)
        path = save(graph, tmp_path / f"{name}.edgeq")
        assert np.array_equal(golden.run(load(path), x), y)


def test_cli_run_writes_integers(tmp_path):
    graph = zoo.mlp()
    model = save(graph, tmp_path / "m.edgeq")
    x = golden.random_inputs(graph, 20, seed=1)
    np.save(tmp_path / "x.npy", x)
    assert main(["run", str(model), "--input", str(tmp_path / "x.npy"),
                 "--output", str(tmp_path / "y.npy")]) == 0
    assert np.array_equal(np.load(tmp_path / "y.npy"), golden.run(graph, x))
