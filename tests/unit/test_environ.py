"""annex_cdk.ops.environ: the rehearsal's environment changes leave no trace."""

from __future__ import annotations

import os

import pytest

from annex_cdk.ops.environ import scoped_environ


def test_set_and_unset_variables_come_back_as_they_were(monkeypatch):
    monkeypatch.setenv("ANNEX_T_KEPT", "old")
    monkeypatch.setenv("ANNEX_T_GONE", "was-here")
    monkeypatch.delenv("ANNEX_T_NEW", raising=False)
    with (
        pytest.raises(RuntimeError),
        scoped_environ({"ANNEX_T_KEPT": "new", "ANNEX_T_NEW": "1"}, unset=("ANNEX_T_GONE",)),
    ):
        assert os.environ["ANNEX_T_KEPT"] == "new"
        assert os.environ["ANNEX_T_NEW"] == "1"
        assert "ANNEX_T_GONE" not in os.environ
        raise RuntimeError("the block fails: the environment is put back all the same")
    assert os.environ["ANNEX_T_KEPT"] == "old"
    assert os.environ["ANNEX_T_GONE"] == "was-here"
    assert "ANNEX_T_NEW" not in os.environ
