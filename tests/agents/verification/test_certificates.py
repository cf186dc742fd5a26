"""agents.verification.certificates: reading names every problem, writing is atomic, hashes follow
the values."""

from __future__ import annotations

import json

import pytest
import torch

from agents.verification.certificates import (hash_json, hash_mismatches, hash_tensors, read_certificate,
                                              write_certificate)


def test_read_names_what_is_wrong(tmp_path):
    path = tmp_path / "certificate.json"
    with pytest.raises(ValueError, match="no certificate at"):
        read_certificate(path, ["version"], "Test")
    path.write_text("{")
    with pytest.raises(ValueError, match="is not valid JSON"):
        read_certificate(path, ["version"], "Test")
    path.write_text("[1]")
    with pytest.raises(ValueError, match="not a Test certificate"):
        read_certificate(path, ["version"], "Test")
    write_certificate(path, {"version": 2, "rho": float("nan")})
    with pytest.raises(ValueError, match="lacks kappa: not a Test certificate"):
        read_certificate(path, ["version", "rho", "kappa"], "Test")
    with pytest.raises(ValueError, match="certificate version 2; this rlkit reads 1"):
        read_certificate(path, ["version"], "Test", version=1)
    with pytest.raises(ValueError, match="rho must be a finite number"):
        read_certificate(path, ["version"], "Test", version=2, finite=["rho"])
    write_certificate(path, {"version": 2, "rho": 0.5})
    assert read_certificate(path, ["version"], "Test", version=2, finite=["rho"]) == {"version": 2, "rho": 0.5}
    assert [p.name for p in tmp_path.iterdir()] == ["certificate.json"]  # no temporary file left
    assert json.loads(path.read_text())["rho"] == 0.5


def test_hashes_follow_the_values():
    weights = {"w": torch.ones(2, 2, dtype=torch.float64)}
    assert hash_tensors(weights) == hash_tensors({"w": torch.ones(2, 2, dtype=torch.float32)})
    assert hash_tensors(weights) != hash_tensors({"w": torch.ones(4, dtype=torch.float64)})  # the shape counts
    assert hash_json({"a": 1, "b": [1.0]}) == hash_json({"b": [1.0], "a": 1}) != hash_json({"a": 2, "b": [1.0]})
    problems = hash_mismatches({"x": "0" * 64, "y": "abc"}, {"x": "0" * 64, "y": "def"})
    assert problems == ["the y hash does not match the saved y (certificate abc..., files def...)"]
