"""``rlkit train agent=lyapunov`` writes certificate.json; ``rlkit certify`` re-verifies it from the
saved files and fails on a tampered certificate."""

from __future__ import annotations

import json

import pytest

LYAPUNOV = ["env=inverted_pendulum", "agent=lyapunov", "agent.batch=64", "agent.pgd_steps=5",
            "agent.box_low=[-1.0,-1.0]", "agent.box_high=[1.0,1.0]", "total_timesteps=320", "eval.episodes=1"]


@pytest.fixture(scope="module")
def certified_run(tmp_path_factory):
    from rlkit.cli import main

    run = tmp_path_factory.mktemp("certified") / "run"
    assert main(["train", *LYAPUNOV, "progress_bar=false", f"run_dir={run}"]) == 0
    return run


def test_the_run_writes_a_complete_certificate(certified_run):
    certificate = json.loads((certified_run / "certificate.json").read_text())
    for key in ("box_low", "box_high", "rho", "kappa", "hole", "backend", "hashes", "dynamics_parameters",
                "counterexamples", "verified_volume_fraction", "wall_time_s"):
        assert key in certificate or key in certificate["result"], key
    assert certificate["reverify"] == f"rlkit certify run={certified_run}"
    assert set(certificate["hashes"]) == {"dynamics", "controller", "lyapunov"}
    summary = json.loads((certified_run / "summary.json").read_text())
    assert summary["certificate"]["status"] == "verified" and summary["certificate"]["rho"] == certificate["rho"]


def test_certify_accepts_the_untouched_certificate(cli, certified_run):
    code, out, err = cli("certify", f"run={certified_run}")
    assert code == 0, err
    assert "certificate holds" in out


@pytest.mark.parametrize("edit, message", [
    (lambda c: c.update(rho=c["rho"] * 1e4), "re-verification at rho="),
    (lambda c: c["hashes"].update(lyapunov="0" * 64), "the lyapunov hash does not match"),
    (lambda c: c["dynamics_parameters"] and c["hashes"].update(dynamics="f" * 64), "the dynamics hash does not match"),
])
def test_certify_fails_on_a_tampered_certificate(cli, certified_run, tmp_path, edit, message):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(certified_run, copy, symlinks=True)
    path = copy / "certificate.json"
    certificate = json.loads(path.read_text())
    edit(certificate)
    path.write_text(json.dumps(certificate))
    code, _, err = cli("certify", f"run={copy}")
    assert code == 1 and message in err, err


def test_certify_names_missing_or_broken_files(cli, certified_run, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(certified_run, copy, symlinks=True)
    (copy / "certificate.json").write_text("{not json")
    code, _, err = cli("certify", f"run={copy}")
    assert code == 2 and "is not valid JSON" in err
    (copy / "certificate.json").unlink()
    code, _, err = cli("certify", f"run={copy}")
    assert code == 2 and "no certificate at" in err
    code, _, err = cli("certify", "run=/no/such/run")
    assert code == 2 and "does not exist" in err
