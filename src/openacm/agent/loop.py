"""One pass of the agent, the polling loop around it, and `--release`.

A pass: select the certificates of every entry (its ARN, or every ISSUED certificate carrying
its tag), describe each, associate it with the agent's consumer ARN, write its files when it
is new or renewed (or its files changed or vanished), then run each reload command once for
all the certificates it serves, and finally disassociate what is no longer selected. Every
certificate is handled on its own: one that fails is reported and retried next pass, the
others go on.
"""

from __future__ import annotations

import logging
import os
import subprocess
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from openacm.agent.client import ApiError, ListedCertificate, consumer_arn
from openacm.agent.config import FILE_KINDS, AgentConfig, CertificateEntry, TagSelector
from openacm.agent.files import FileError, write_atomically
from openacm.agent.material import Material, MaterialError, check_key_matches, render
from openacm.agent.state import (
    AgentState,
    Deployed,
    Observed,
    layout_digest,
    load_state,
    needs_deploy,
    save_state,
)

log = logging.getLogger("openacm.agent")

DEPLOYED = "deployed"
UNCHANGED = "unchanged"
RELEASED = "released"
ERROR = "error"
CONFIG_ERROR = "config-error"
RELOADED = "reloaded"
RELOAD_FAILED = "reload-failed"
# Disassociating a certificate that is gone has nothing left to undo.
GONE = frozenset({"ResourceNotFoundException"})


class Api(Protocol):
    """What the loop needs of openacm (client.AcmClient; a fake in unit tests)."""

    def describe(self, arn: str) -> Observed: ...
    def fetch(self, arn: str) -> Material: ...
    def export(self, arn: str) -> Material: ...
    def tagged(self, tag: TagSelector) -> list[ListedCertificate]: ...
    def associate(self, certificate_arn: str, resource_arn: str) -> None: ...
    def disassociate(self, certificate_arn: str, resource_arn: str) -> None: ...


@dataclass(frozen=True)
class Outcome:
    """What a pass did with one certificate (or one reload command)."""

    action: str
    entry: str
    arn: str | None = None
    serial: str | None = None
    detail: str = ""

    @property
    def failed(self) -> bool:
        return self.action in (ERROR, CONFIG_ERROR, RELOAD_FAILED)


class EntryConfigError(Exception):
    """The entry asks for something its certificate cannot give (a key of a certificate that
    cannot be exported, a PKCS#12 passphrase variable that is unset...)."""


@dataclass
class _Pass:
    state: AgentState
    outcomes: list[Outcome] = field(default_factory=list)
    selected: set[tuple[str, str]] = field(default_factory=set)
    unknown_entries: set[str] = field(default_factory=set)
    # reload argv -> the (entry, arn) pairs waiting for it
    reloads: dict[tuple[str, ...], list[tuple[str, str]]] = field(default_factory=dict)


class Agent:
    def __init__(
        self,
        config: AgentConfig,
        client: Api,
        environ: Mapping[str, str] | None = None,
        report: Callable[[Outcome], None] | None = None,
    ) -> None:
        self.config = config
        self.client = client
        self.environ = os.environ if environ is None else environ
        self.report = report or (lambda _outcome: None)
        self._associated: set[str] = set()

    # -- the loop -----------------------------------------------------------------------------

    def run_forever(self, stop: threading.Event) -> None:
        log.info(
            "agent started",
            extra={"target": self.config.target, "poll_interval": self.config.poll_interval},
        )
        while not stop.is_set():
            try:
                self.run_once()
            except Exception:  # the next pass may succeed; a daemon must not die of one
                log.exception("agent pass failed")
            stop.wait(self.config.poll_interval)
        log.info("agent stopped", extra={"target": self.config.target})

    def run_once(self) -> list[Outcome]:
        run = _Pass(load_state(self.config.state_file))
        for entry in self.config.entries:
            self._entry(run, entry)
        self._release_unselected(run)
        self._reload(run)
        save_state(self.config.state_file, run.state)
        return run.outcomes

    def release(self) -> list[Outcome]:
        """Disassociate every certificate the agent holds or is configured for; the files
        stay where they are (the service keeps running until you stop it)."""
        run = _Pass(load_state(self.config.state_file))
        pairs = {(record.entry, record.arn) for record in run.state.deployed.values()}
        for entry in self.config.entries:
            try:
                pairs |= {(entry.name, c.arn) for c in self._select(entry)}
            except ApiError as exc:
                self._emit(run, Outcome(ERROR, entry.name, detail=f"selection failed: {exc}"))
        for entry_name, arn in sorted(pairs):
            if self._disassociate(run, entry_name, arn):
                run.state.drop(entry_name, arn)
        save_state(self.config.state_file, run.state)
        return run.outcomes

    # -- one entry, one certificate -----------------------------------------------------------

    def _entry(self, run: _Pass, entry: CertificateEntry) -> None:
        try:
            certificates = self._select(entry)
        except ApiError as exc:
            run.unknown_entries.add(entry.name)  # keep its certificates: we do not know
            self._emit(run, Outcome(ERROR, entry.name, detail=f"selection failed: {exc}"))
            return
        if len(certificates) > 1 and not entry.paths_are_per_certificate:
            run.unknown_entries.add(entry.name)
            detail = (
                f"{len(certificates)} certificates carry tag {entry.tag}, but the paths do not "
                "hold {id} or {domain}: they would overwrite each other"
            )
            self._emit(run, Outcome(CONFIG_ERROR, entry.name, detail=detail))
            return
        if not certificates:
            log.warning("no certificate selected", extra={"entry": entry.name})
        for listed in certificates:
            run.selected.add((entry.name, listed.arn))
            self._certificate(run, entry, listed.arn)

    def _select(self, entry: CertificateEntry) -> list[ListedCertificate]:
        if entry.arn is not None:
            return [ListedCertificate(entry.arn, "")]
        assert entry.tag is not None
        return self.client.tagged(entry.tag)

    def _certificate(self, run: _Pass, entry: CertificateEntry, arn: str) -> None:
        try:
            outcome = self._deploy(run, entry, arn)
        except EntryConfigError as exc:
            outcome = Outcome(CONFIG_ERROR, entry.name, arn, detail=str(exc))
        except (ApiError, FileError, MaterialError) as exc:
            outcome = Outcome(ERROR, entry.name, arn, detail=str(exc))
        self._emit(run, outcome)

    def _deploy(self, run: _Pass, entry: CertificateEntry, arn: str) -> Outcome:
        observed = self.client.describe(arn)
        if observed.status != "ISSUED":
            raise ApiError("NotIssued", f"the certificate is {observed.status}; files left as is")
        if entry.wants_key and not observed.exportable:
            raise EntryConfigError(
                "a key (or PKCS#12) is configured, but this certificate cannot be exported: "
                "only private certificates and public ones requested with Export ENABLED "
                "carry their key; remove key/pkcs12 from this entry"
            )
        paths = _paths(entry, arn, observed.domain)
        outputs = layout_digest(entry, paths)
        record = run.state.get(entry.name, arn)
        self._note_renewal(observed, record)
        reason = needs_deploy(observed, record, outputs, paths.values())
        if reason is not None or arn not in self._associated:
            # Before the files: the certificate is protected from deletion before we rely on
            # it. With every deployment and once per process besides (the call is idempotent),
            # so a restart restores an association removed by hand, and a `--release` run
            # while this daemon kept going is undone at its next deployment.
            self.client.associate(arn, consumer_arn(arn, self.config.target))
            self._associated.add(arn)
        if reason is None:
            assert record is not None
            if record.reload_pending and entry.reload:
                run.reloads.setdefault(entry.reload, []).append((entry.name, arn))
            if record.renewal_updated_at != observed.renewal_updated_at:
                run.state.mark(entry.name, arn, renewal_updated_at=observed.renewal_updated_at)
            return Outcome(UNCHANGED, entry.name, arn, record.serial)
        material = self.client.export(arn) if entry.wants_key else self.client.fetch(arn)
        check_key_matches(material)
        self._write(entry, material, paths)
        run.state.put(
            Deployed(
                entry=entry.name,
                arn=arn,
                serial=material.serial,
                not_after=material.certificate.not_valid_after_utc.timestamp(),
                outputs=outputs,
                paths=tuple(str(p) for p in paths.values()),
                reload_pending=bool(entry.reload),
                renewal_updated_at=observed.renewal_updated_at,
            )
        )
        # Saved at once: a crash before the reload still reloads after the restart.
        save_state(self.config.state_file, run.state)
        if entry.reload:
            run.reloads.setdefault(entry.reload, []).append((entry.name, arn))
        return Outcome(DEPLOYED, entry.name, arn, material.serial, detail=reason)

    def _write(
        self, entry: CertificateEntry, material: Material, paths: Mapping[str, Path]
    ) -> None:
        # Every body first: a missing passphrase must not leave half the files renewed.
        bodies = {
            kind: render(
                kind, material, self._pkcs12_passphrase(entry) if kind == "pkcs12" else None
            )
            for kind in FILE_KINDS
            if kind in entry.files
        }
        for kind, body in bodies.items():
            write_atomically(paths[kind], body, entry.files[kind])

    def _pkcs12_passphrase(self, entry: CertificateEntry) -> bytes:
        spec = entry.files["pkcs12"]
        if spec.passphrase is not None:
            return spec.passphrase.encode()
        value = self.environ.get(spec.passphrase_env or "", "")
        if not value:
            raise EntryConfigError(f"pkcs12: ${spec.passphrase_env} is empty or unset")
        return value.encode()

    def _note_renewal(self, observed: Observed, record: Deployed | None) -> None:
        """Say when openacm's renewal of a deployed certificate moves (PENDING_VALIDATION
        is something an operator must act on; SUCCESS is followed by a deployment)."""
        if record is None or observed.renewal_updated_at == record.renewal_updated_at:
            return
        if observed.renewal_status:
            log.info(
                "renewal status changed",
                extra={"certificate_arn": observed.arn, "renewal_status": observed.renewal_status},
            )

    # -- reloads, releases ----------------------------------------------------------------------

    def _reload(self, run: _Pass) -> None:
        for argv, pairs in run.reloads.items():
            succeeded, detail = self._run_reload(argv)
            for entry_name, arn in pairs:
                run.state.mark(entry_name, arn, reload_pending=not succeeded)
            label = ", ".join(sorted({name for name, _arn in pairs}))
            self._emit(run, Outcome(RELOADED if succeeded else RELOAD_FAILED, label, detail=detail))

    def _run_reload(self, argv: tuple[str, ...]) -> tuple[bool, str]:
        """Shell-free, with a timeout; a failure is retried at the next pass."""
        try:
            done = subprocess.run(
                list(argv),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=self.config.reload_timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return False, f"{argv[0]} timed out after {self.config.reload_timeout:g}s"
        except OSError as exc:
            return False, f"{argv[0]}: {exc.strerror or exc}"
        output = (done.stderr or done.stdout).decode(errors="replace").strip()[-500:]
        detail = f"{argv[0]} exited with status {done.returncode}"
        return done.returncode == 0, f"{detail}: {output}" if output else detail

    def _release_unselected(self, run: _Pass) -> None:
        """Certificates deployed before but no longer selected (the entry is gone from the
        config, the tag was removed): the agent no longer uses them."""
        still_used = {arn for _entry, arn in run.selected}
        for key, record in list(run.state.deployed.items()):
            if (record.entry, record.arn) in run.selected or record.entry in run.unknown_entries:
                continue
            if record.arn in still_used:  # another entry still deploys it
                run.state.deployed.pop(key)
                continue
            if self._disassociate(run, record.entry, record.arn):
                run.state.deployed.pop(key)

    def _disassociate(self, run: _Pass, entry_name: str, arn: str) -> bool:
        try:
            self.client.disassociate(arn, consumer_arn(arn, self.config.target))
            self._associated.discard(arn)
        except ApiError as exc:
            if exc.code not in GONE:
                self._emit(run, Outcome(ERROR, entry_name, arn, detail=f"release failed: {exc}"))
                return False
        self._emit(run, Outcome(RELEASED, entry_name, arn))
        return True

    def _emit(self, run: _Pass, outcome: Outcome) -> None:
        run.outcomes.append(outcome)
        fields = {
            "action": outcome.action,
            "entry": outcome.entry,
            "certificate_arn": outcome.arn,
            "serial": outcome.serial,
            "detail": outcome.detail or None,
        }
        # Unchanged certificates are every pass's news: only at debug level.
        if outcome.failed:
            level = logging.WARNING
        else:
            level = logging.DEBUG if outcome.action == UNCHANGED else logging.INFO
        log.log(level, outcome.action, extra={k: v for k, v in fields.items() if v is not None})
        self.report(outcome)


def _paths(entry: CertificateEntry, arn: str, domain: str) -> dict[str, Path]:
    certificate_id = arn.rsplit("/", 1)[-1]
    # A wildcard's '*' is awkward in a file name; '/' cannot occur in a domain name.
    safe_domain = domain.replace("*", "_wildcard").replace("/", "_") or certificate_id
    return {kind: spec.resolve(certificate_id, safe_domain) for kind, spec in entry.files.items()}
