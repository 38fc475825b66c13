"""``hyperstep.blas``: the one library module that writes the environment writes only the
BLAS thread variables the user left unset, and hands the rest back as it was."""

from __future__ import annotations

import os

import pytest

from hyperstep import blas


def test_only_the_unset_thread_variables_are_written_and_the_users_environment_keeps_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    environment = {"PATH": "/bin", "OMP_NUM_THREADS": "4"}
    monkeypatch.setattr(os, "environ", dict(environment))
    monkeypatch.setattr(blas, "_ADDED", set())
    blas.use_one_thread()
    assert {k: v for k, v in os.environ.items() if k not in environment} == {
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    assert os.environ["OMP_NUM_THREADS"] == "4"  # the user's kept
    assert blas.users_environment() == environment
