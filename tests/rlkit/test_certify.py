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
    code, _, err = cli("certify", f"run={_tampered_copy(certified_run, tmp_path, edit)}")
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


def _tampered_copy(certified_run, tmp_path, edit):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(certified_run, copy, symlinks=True)
    path = copy / "certificate.json"
    certificate = json.loads(path.read_text())
    edit(certificate)
    path.write_text(json.dumps(certificate))
    return copy


@pytest.mark.parametrize("edit, message", [
    (lambda c: c.update(hole=10.0), "the hole 10.0 is not small against the box"),
    (lambda c: c.update(hole=0.2), "the hole 0.2 is not small against the box"),  # > 10 % of the half-width 1
    (lambda c: c.update(hole=-0.5), "the hole -0.5 is not small against the box"),
    (lambda c: c.update(rho=0.0), "rho is 0.0: the level must be > 0"),
    (lambda c: c.update(rho=-1.0), "rho is -1.0: the level must be > 0"),
    (lambda c: c.update(rho=1e-9), "no state of the box outside the hole has V <= rho"),
    (lambda c: c.update(kappa=-0.5), "kappa is -0.5: it must lie in [0, 1)"),
    (lambda c: c["dynamics_parameters"].update(m=2.0), "dynamics_parameters differ from the plant the run's config "
                                                        "builds (m: certificate 2.0, plant 1.0)"),
    (lambda c: c.pop("dynamics_parameters"), "the certificate lacks the plant's dynamics_parameters"),
    (lambda c: c.update(claim="asymptotic stability of x_eq"), "the claim text is not what these numbers prove"),
    (lambda c: c.update(eps=1.0), "the certificate states eps = 1.0; the saved V has eps = 0.01"),
    (lambda c: c["result"].update(status="timeout"), "records status 'timeout', not 'verified'"),
])
def test_certify_refuses_a_false_or_vacuous_claim(cli, certified_run, tmp_path, edit, message):
    copy = _tampered_copy(certified_run, tmp_path, edit)
    code, out, err = cli("certify", f"run={copy}")
    assert code == 1 and message in err and "certificate holds" not in out, err


def _edit_checkpoint_meta(run, **changes):
    """Rewrite the latest checkpoint's meta.json with ``changes`` to its hyper-parameters."""
    import zipfile

    archive = (run / "checkpoints" / "latest").resolve() / "agent.zip"
    with zipfile.ZipFile(archive) as source:
        members = {name: source.read(name) for name in source.namelist()}
    meta = json.loads(members["meta.json"])
    meta["hyperparameters"].update(changes)
    members["meta.json"] = json.dumps(meta).encode()
    with zipfile.ZipFile(archive, "w") as target:
        for name, data in members.items():
            target.writestr(name, data)


@pytest.mark.parametrize("changes, messages", [
    ({"activation": "leaky_relu"}, ["the controller hash does not match", "the lyapunov hash does not match"]),
    ({"eps": 0.02}, ["the lyapunov hash does not match", "the saved V has eps = 0.02"]),
])
def test_certify_refuses_a_checkpoint_whose_networks_were_redefined(cli, certified_run, tmp_path, changes, messages):
    """The hashes cover what defines V and the controller besides their tensors (activation, eps)."""
    copy = _tampered_copy(certified_run, tmp_path, lambda c: None)
    _edit_checkpoint_meta(copy, **changes)
    code, out, err = cli("certify", f"run={copy}")
    assert code == 1 and all(message in err for message in messages), err


def test_certify_states_what_is_proved_and_refuses_older_certificates(cli, certified_run, tmp_path):
    from agents.lyapunov.certificate import claim_text

    certificate = json.loads((certified_run / "certificate.json").read_text())
    assert certificate["claim"] == claim_text(certificate["rho"], certificate["kappa"], certificate["hole"], 0.01)
    assert "asymptotic stability" not in certificate["claim"] and "reaches" not in certificate["claim"]
    assert "until it enters the hole |x - x_eq|_inf <= 0.01, which it does within" in certificate["claim"]
    code, out, err = cli("certify", f"run={certified_run}")
    assert code == 0 and f"proved: {certificate['claim']}" in out, err
    copy = _tampered_copy(certified_run, tmp_path, lambda c: c.update(version=1))
    code, _, err = cli("certify", f"run={copy}")
    assert code == 2 and "has certificate version 1; this rlkit reads 2" in err
