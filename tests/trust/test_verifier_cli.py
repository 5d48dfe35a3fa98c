"""`dho trust issue | verify | verify-batch` from the command line, offline: a DSC and its key in files, a
certificate issued, verified from its text, its QR image and in a batch; bad arguments give one clear line."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from dho.cli import app
from dho.trust import issue, testpki

RUN = CliRunner()


def _files(tmp_path, passphrase=None):  # type: ignore[no-untyped-def]
    sca = testpki.make_sca("XA")
    dsc = testpki.make_dsc(sca, "XA")
    (tmp_path / "dsc.pem").write_bytes(dsc.pem)
    (tmp_path / "dsc.key").write_bytes(dsc.key_pem(passphrase))
    payload = issue.dcc_test(family="Okafor", given="Chidi", dob="1979-11-02", country="XA", issuer="Lab",
                             ci=issue.uvci("XA", "LAB", "T0001"), sample_time="2026-11-20T08:30:00Z")
    (tmp_path / "payload.json").write_text(json.dumps(payload), encoding="utf-8")
    return dsc


def test_issue_then_verify_text_image_and_batch(tmp_path):
    _files(tmp_path)
    r = RUN.invoke(app, ["trust", "issue", str(tmp_path / "payload.json"), "--dsc-cert", str(tmp_path / "dsc.pem"),
                         "--dsc-key", str(tmp_path / "dsc.key"), "--png", str(tmp_path / "qr.png"),
                         "--svg", str(tmp_path / "qr.svg"), "--days", "2"])
    assert r.exit_code == 0, r.output
    text = r.output.strip().splitlines()[-1]
    assert text.startswith("HC1:")
    assert (tmp_path / "qr.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in (tmp_path / "qr.svg").read_text(encoding="utf-8")
    trust = str(tmp_path / "dsc.pem")
    r = RUN.invoke(app, ["trust", "verify", text, "--trust-list", trust, "--json"])
    assert r.exit_code == 0 and json.loads(r.output)["valid"] is True
    r = RUN.invoke(app, ["trust", "verify", "--image", str(tmp_path / "qr.png"), "--trust-list", trust])
    assert r.exit_code == 0 and "VALID" in r.output
    r = RUN.invoke(app, ["trust", "verify", text, "--trust-list", trust, "--at", "2099-01-01T00:00:00Z",
                         "--lang", "fr"])
    assert r.exit_code == 2 and "HC_EXPIRED" in r.output and "expiré" in r.output
    lines = [text, text[:-2] + "AA", "", "not a certificate", text]
    (tmp_path / "batch.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    r = RUN.invoke(app, ["trust", "verify-batch", str(tmp_path / "batch.txt"), "--trust-list", trust, "--jobs", "1",
                         "--no-progress", "--out", str(tmp_path / "out.jsonl")])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.output.strip().splitlines()[-1])
    assert summary["total"] == 5 and summary["valid"] == 2
    assert summary["by_code"]["HC_INPUT_EMPTY"] == 1 and summary["by_code"]["HC_PREFIX_MISSING"] == 1
    assert len((tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()) == 5


def test_passphrase_protected_key(tmp_path, monkeypatch):
    _files(tmp_path, passphrase="s3cret-phrase")
    args = ["trust", "issue", str(tmp_path / "payload.json"), "--dsc-cert", str(tmp_path / "dsc.pem"),
            "--dsc-key", str(tmp_path / "dsc.key")]
    r = RUN.invoke(app, args)
    assert r.exit_code == 1 and "cannot be read" in r.output
    monkeypatch.setenv("DSC_PASS", "wrong")
    assert RUN.invoke(app, [*args, "--passphrase-env", "DSC_PASS"]).exit_code == 1
    monkeypatch.setenv("DSC_PASS", "s3cret-phrase")
    r = RUN.invoke(app, [*args, "--passphrase-env", "DSC_PASS"])
    assert r.exit_code == 0 and r.output.strip().startswith("HC1:")


def test_bad_arguments_are_one_clear_line(tmp_path):
    _files(tmp_path)
    trust = str(tmp_path / "dsc.pem")
    cases = [
        (["trust", "verify", "HC1:X", "--file", trust, "--trust-list", trust], "exactly one of"),
        (["trust", "verify", "HC1:X", "--trust-list", str(tmp_path / "none.json")], "no such trust list file"),
        (["trust", "verify", "--image", trust, "--trust-list", trust], "QR_NOT_IMAGE"),
        (["trust", "issue", trust, "--dsc-cert", trust, "--dsc-key", trust], "not JSON"),
        (["trust", "issue", str(tmp_path / "payload.json"), "--dsc-cert", str(tmp_path / "dsc.key"),
          "--dsc-key", str(tmp_path / "dsc.key")], "cannot be read"),
        (["trust", "verify-batch", str(tmp_path / "nope.txt"), "--trust-list", trust], "no such file"),
    ]
    (tmp_path / "junk.json").write_text("{not json", encoding="utf-8")
    cases.append((["trust", "verify", "HC1:X", "--trust-list", str(tmp_path / "junk.json")], "not JSON"))
    (tmp_path / "bad.json").write_text(json.dumps({"ver": "1.3.0"}), encoding="utf-8")
    cases.append((["trust", "issue", str(tmp_path / "bad.json"), "--dsc-cert", trust, "--dsc-key",
                   str(tmp_path / "dsc.key")], "schema"))
    for args, needle in cases:
        r = RUN.invoke(app, args)
        assert r.exit_code == 1, (args, r.output)
        assert "error:" in r.output and needle in r.output, (args, r.output)
        assert "Traceback" not in r.output
