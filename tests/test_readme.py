import pathlib
import re

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"


def test_readme_opens_with_the_two_commands():
    text = README.read_text()
    first_block = re.search(r"```bash\n(.*?)```", text, re.S).group(1).strip().splitlines()
    assert first_block == [
        "python -m pip install -e '.[experiments]' && python -m experiments",
        "python -m pip install -e '.[dev]' && python -m pytest -q -n auto",
    ]


def test_quickstart_runs_as_written(capsys):
    code = re.search(r"```python\n(.*?)```", README.read_text(), re.S).group(1)
    namespace = {}
    exec(compile(code, str(README), "exec"), namespace)
    out = capsys.readouterr().out
    assert "2-layer network (1-hidden-layer network)" in out
    assert "(1024, 200)" in out
    import numpy as np

    pred = np.asarray(namespace["net"].apply(namespace["state"].params, namespace["X"]))
    assert np.all(np.abs(pred - namespace["T"]) < 0.4)
    grads, ref = namespace["grads"], namespace["ref"][1]
    for g, r in zip(grads, ref):
        np.testing.assert_allclose(g["W"], r["W"], rtol=1e-5, atol=1e-7)
