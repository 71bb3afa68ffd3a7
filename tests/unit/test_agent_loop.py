"""The agent's pass against a fake openacm: what it writes and when, reloads retried after a
failure, certificates let go when they leave the configuration, one failure not stopping the
others. (The real process against a real server: tests/integration/test_agent.py.)"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from openacm.agent.client import ApiError, ListedCertificate
from openacm.agent.config import AgentConfig, TagSelector, parse_config
from openacm.agent.loop import Agent, Outcome
from openacm.agent.material import Material
from openacm.agent.state import Observed
from tests.support import pki

ACCOUNT = "111122223333"


def arn_of(name: str) -> str:
    return f"arn:aws:acm:us-east-1:{ACCOUNT}:certificate/{name}"


@dataclass
class FakeApi:
    """Certificates by ARN: (material, exportable); calls recorded."""

    certificates: dict[str, tuple[Material, bool]] = field(default_factory=dict)
    tags: dict[str, set[str]] = field(default_factory=dict)
    associations: set[tuple[str, str]] = field(default_factory=set)
    calls: list[str] = field(default_factory=list)
    broken: set[str] = field(default_factory=set)

    def issue(self, name: str, exportable: bool = True) -> str:
        root = pki.issue("Root", is_ca=True)
        leaf = pki.issue(f"{name}.example.com", sans=[f"{name}.example.com"], issuer=root)
        material = Material(leaf.cert_pem.decode(), root.cert_pem.decode(), leaf.key)
        self.certificates[arn_of(name)] = (material, exportable)
        return arn_of(name)

    def describe(self, arn: str) -> Observed:
        self.calls.append(f"describe {arn}")
        if arn in self.broken or arn not in self.certificates:
            raise ApiError("ResourceNotFoundException", f"no {arn}")
        material, exportable = self.certificates[arn]
        return Observed(arn, "ISSUED", material.serial, None, "x.example.com", exportable)

    def fetch(self, arn: str) -> Material:
        self.calls.append(f"fetch {arn}")
        material, _ = self.certificates[arn]
        return Material(material.certificate_pem, material.chain_pem)

    def export(self, arn: str) -> Material:
        self.calls.append(f"export {arn}")
        return self.certificates[arn][0]

    def tagged(self, tag: TagSelector) -> list[ListedCertificate]:
        return [ListedCertificate(a, "") for a in sorted(self.tags.get(str(tag), set()))]

    def associate(self, certificate_arn: str, resource_arn: str) -> None:
        self.associations.add((certificate_arn, resource_arn))

    def disassociate(self, certificate_arn: str, resource_arn: str) -> None:
        self.associations.discard((certificate_arn, resource_arn))


def config(tmp_path: Path, *entries: dict[str, Any]) -> AgentConfig:
    return parse_config(
        {
            "region": "us-east-1",
            "target": "host",
            "state_dir": str(tmp_path / "state"),
            "certificates": list(entries),
        }
    )


def reload_command(tmp_path: Path, fail_flag: Path) -> list[str]:
    """Appends a line to reloads.log; fails while `fail_flag` exists."""
    script = (
        "import pathlib,sys;"
        f"f=pathlib.Path({str(fail_flag)!r});"
        f"pathlib.Path({str(tmp_path / 'reloads.log')!r}).open('a').write('x\\n');"
        "sys.exit(3 if f.exists() else 0)"
    )
    return [sys.executable, "-c", script]


def actions(outcomes: list[Outcome]) -> list[str]:
    return [outcome.action for outcome in outcomes]


def consumer() -> str:
    return f"arn:openacm:deploy:us-east-1:{ACCOUNT}:target/host"


def test_deploys_once_then_only_after_a_renewal(tmp_path: Path) -> None:
    api = FakeApi()
    arn = api.issue("web")
    flag = tmp_path / "fail"
    entry = {
        "arn": arn,
        "fullchain": str(tmp_path / "full.pem"),
        "key": str(tmp_path / "key.pem"),
        "reload": reload_command(tmp_path, flag),
    }
    cfg = config(tmp_path, entry)

    assert actions(Agent(cfg, api).run_once()) == ["deployed", "reloaded"]
    assert (arn, consumer()) in api.associations
    assert "export " + arn in api.calls
    # A new process (a restart) with the same state: nothing written, nothing reloaded.
    api.calls.clear()
    assert actions(Agent(cfg, api).run_once()) == ["unchanged"]
    assert not any(call.startswith(("export", "fetch")) for call in api.calls)

    # Renewed (same ARN, new serial and key): written again, reloaded.
    material, _ = api.certificates[arn]
    api.issue("web")
    assert api.certificates[arn][0].serial != material.serial
    outcomes = Agent(cfg, api).run_once()
    assert actions(outcomes) == ["deployed", "reloaded"]
    assert outcomes[0].detail.startswith("renewed")
    assert (tmp_path / "key.pem").read_bytes() != b""
    assert (tmp_path / "reloads.log").read_text() == "x\nx\n"


def test_a_failed_reload_is_retried_at_the_next_pass(tmp_path: Path) -> None:
    api = FakeApi()
    flag = tmp_path / "fail"
    flag.touch()
    entry = {
        "arn": api.issue("web"),
        "certificate": str(tmp_path / "c.pem"),
        "reload": reload_command(tmp_path, flag),
    }
    agent = Agent(config(tmp_path, entry), api)
    outcomes = agent.run_once()
    assert actions(outcomes) == ["deployed", "reload-failed"]
    assert "exited with status 3" in outcomes[1].detail
    assert actions(agent.run_once()) == ["unchanged", "reload-failed"]
    flag.unlink()
    assert actions(agent.run_once()) == ["unchanged", "reloaded"]
    assert actions(agent.run_once()) == ["unchanged"]  # done: no more reloads


def test_a_missing_reload_program_is_a_failed_reload_not_a_crash(tmp_path: Path) -> None:
    api = FakeApi()
    entry = {
        "arn": api.issue("web"),
        "certificate": str(tmp_path / "c.pem"),
        "reload": ["/nonexistent/reload-me"],
    }
    outcomes = Agent(config(tmp_path, entry), api).run_once()
    assert actions(outcomes) == ["deployed", "reload-failed"]


def test_a_certificate_removed_from_the_config_is_let_go(tmp_path: Path) -> None:
    api = FakeApi()
    kept, dropped = api.issue("kept"), api.issue("dropped")
    first = {"arn": kept, "certificate": str(tmp_path / "k.pem")}
    second = {"arn": dropped, "certificate": str(tmp_path / "d.pem")}
    Agent(config(tmp_path, first, second), api).run_once()
    assert {a for a, _r in api.associations} == {kept, dropped}

    outcomes = Agent(config(tmp_path, first), api).run_once()
    assert [(o.action, o.arn) for o in outcomes] == [("unchanged", kept), ("released", dropped)]
    assert {a for a, _r in api.associations} == {kept}

    released = Agent(config(tmp_path, first), api).release()
    assert actions(released) == ["released"] and api.associations == set()


def test_one_failure_does_not_stop_the_others(tmp_path: Path) -> None:
    api = FakeApi()
    good, bad, plain = api.issue("good"), api.issue("bad"), api.issue("plain", exportable=False)
    api.broken.add(bad)
    entries = [
        {"arn": bad, "certificate": str(tmp_path / "b.pem")},
        {"arn": plain, "certificate": str(tmp_path / "p.pem"), "key": str(tmp_path / "p.key")},
        {"arn": good, "certificate": str(tmp_path / "g.pem")},
    ]
    outcomes = Agent(config(tmp_path, *entries), api).run_once()
    assert actions(outcomes) == ["error", "config-error", "deployed"]
    assert "cannot be exported" in outcomes[1].detail
    assert not (tmp_path / "p.pem").exists() and not (tmp_path / "p.key").exists()
    assert (plain, consumer()) not in api.associations  # nothing deployed, nothing held


def test_a_tag_on_several_certificates_needs_per_certificate_paths(tmp_path: Path) -> None:
    api = FakeApi()
    api.tags["role=web"] = {api.issue("a"), api.issue("b")}
    shared = {"tag": "role=web", "certificate": str(tmp_path / "web.pem")}
    outcomes = Agent(config(tmp_path, shared), api).run_once()
    assert actions(outcomes) == ["config-error"]
    assert not (tmp_path / "web.pem").exists()

    per_certificate = {"tag": "role=web", "certificate": str(tmp_path / "{id}.pem")}
    outcomes = Agent(config(tmp_path, per_certificate), api).run_once()
    assert actions(outcomes) == ["deployed", "deployed"]
    assert sorted(p.name for p in tmp_path.glob("*.pem")) == ["a.pem", "b.pem"]


def test_a_pkcs12_passphrase_variable_unset_writes_nothing(tmp_path: Path) -> None:
    api = FakeApi()
    entry = {
        "arn": api.issue("web"),
        "certificate": str(tmp_path / "c.pem"),
        "pkcs12": {"path": str(tmp_path / "c.p12"), "passphrase_env": "P12_PASS"},
    }
    outcomes = Agent(config(tmp_path, entry), api, environ={}).run_once()
    assert actions(outcomes) == ["config-error"] and "$P12_PASS" in outcomes[0].detail
    assert not (tmp_path / "c.pem").exists()
    outcomes = Agent(config(tmp_path, entry), api, environ={"P12_PASS": "s3cret"}).run_once()
    assert actions(outcomes) == ["deployed"]
    assert (tmp_path / "c.p12").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("removed", ["c.pem"])
def test_a_file_removed_by_hand_is_written_again(tmp_path: Path, removed: str) -> None:
    api = FakeApi()
    entry = {"arn": api.issue("web"), "certificate": str(tmp_path / "c.pem")}
    Agent(config(tmp_path, entry), api).run_once()
    (tmp_path / removed).unlink()
    outcomes = Agent(config(tmp_path, entry), api).run_once()
    assert actions(outcomes) == ["deployed"] and outcomes[0].detail.startswith("missing")
