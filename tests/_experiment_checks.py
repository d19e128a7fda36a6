"""What every experiment's result must carry, checked the same way in each experiment's tests."""

import json

from _markdown import assert_tables_well_formed

from experiments import _protocol


def files_written(module, result, out):
    """result.json and the figures are on disk; the verdict is one of the protocol's and follows
    the module's stated criterion, which result.json records; headline and seeds are there; the
    report's tables are well formed. Returns the saved result."""
    _protocol.check(module)
    saved = json.loads((out / "result.json").read_text())
    assert saved["verdict"] == result["verdict"]
    assert result["verdict"] in _protocol.VERDICTS or result["verdict"].startswith("not tested")
    assert saved["criterion"] == module.CRITERION.as_dict()
    assert all((out / f).stat().st_size > 0 for f in result.get("figures", []))
    for key in ("headline", "seeds"):
        assert isinstance(result[key], str) and result[key].strip()
    assert_tables_well_formed(module.report(result))
    return saved
