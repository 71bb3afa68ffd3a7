"""The PKI's public HTTP surface, unsigned as in every public CA: the root bundle, CA
certificates, CRLs (RFC 5280) and the OCSP responder (RFC 6960, GET and POST).

The same `/crl/<ca id>.crl` and `/ocsp/<ca id>` paths serve the builtin CAs (short ids) and
the private CAs (UUIDs, `services/pca/revocation.py`) that enable CRLs or OCSP; private CAs'
audit reports are at `/audit-report/<ca id>/<report id>.<json|csv>`."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

from cryptography.hazmat.primitives import serialization
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Route

from openacm.adapters.ca.revocation import (
    REVOCATION_REASONS,
    SerialStatus,
    ocsp_request_from_get_path,
)
from openacm.adapters.store.database import Database
from openacm.adapters.store.issuance import AuthorityStore
from openacm.services.pca.audit_reports import AuditReports
from openacm.services.pca.revocation import PrivateCaRevocation
from openacm.services.pki.builtin_ca import BuiltinCa
from openacm.services.pki.crls import regenerate_crl
from openacm.services.pki.leaf_issuer import serial_hex

# RFC 6960 appendix A.1: an OCSP request larger than this is refused rather than parsed.
MAX_OCSP_REQUEST_BYTES = 16 * 1024
CRL_VALIDITY_FALLBACK_SECONDS = 24 * 3600.0


def pki_routes(
    db: Database,
    ca: BuiltinCa,
    crl_validity_seconds: float,
    private: PrivateCaRevocation | None = None,
    audit_reports: AuditReports | None = None,
) -> list[Route]:
    def not_found(what: str) -> Response:
        return PlainTextResponse(f"{what} not found\n", status_code=404)

    async def roots(_: Request) -> Response:
        return Response(ca.roots_pem(), media_type="application/x-pem-file")

    async def ca_certificate(request: Request) -> Response:
        loaded = ca.by_id.get(request.path_params["ca_id"])
        if loaded is None:
            return not_found("CA")
        der = loaded.certificate.public_bytes(serialization.Encoding.DER)
        return Response(der, media_type="application/pkix-cert")

    def current_crl(ca_id: str) -> bytes | None:
        with db.read() as conn:
            stored = AuthorityStore(conn).ca(ca_id)
        if stored is None:
            return None
        if stored.crl_der is not None:
            return stored.crl_der
        with db.write() as conn:  # first request before the background made one
            return regenerate_crl(
                conn, ca.by_id[ca_id], now=time.time(), validity_seconds=crl_validity_seconds
            )

    async def crl(request: Request) -> Response:
        ca_id = request.path_params["ca_id"]
        if ca_id not in ca.by_id:
            if private is None:
                return not_found("CRL")
            private_der = await asyncio.to_thread(private.current_crl, ca_id, now=time.time())
            if private_der is None:
                return not_found("CRL")
            return Response(private_der, media_type="application/pkix-crl")
        der = await asyncio.to_thread(current_crl, ca_id)
        if der is None:
            return not_found("CRL")
        return Response(der, media_type="application/pkix-crl")

    def status_of(ca_id: str, serial_number: int) -> SerialStatus:
        with db.read() as conn:
            entry = AuthorityStore(conn).serial(ca_id, serial_hex(serial_number))
        if entry is None or entry.state != "issued":
            return SerialStatus("unknown")
        if entry.revoked_at is not None:
            return SerialStatus(
                "revoked",
                revoked_at=datetime.fromtimestamp(entry.revoked_at, UTC),
                reason=REVOCATION_REASONS.get(entry.revocation_reason or "UNSPECIFIED"),
            )
        return SerialStatus("good")

    async def answer_ocsp(ca_id: str, request_der: bytes) -> Response:
        loaded = ca.by_id.get(ca_id)
        if loaded is None:
            return await answer_private_ocsp(ca_id, request_der)
        answer = await asyncio.to_thread(
            loaded.ocsp.respond,
            request_der,
            lambda serial: status_of(ca_id, serial),
            datetime.now(UTC),
        )
        return Response(answer, media_type="application/ocsp-response")

    async def answer_private_ocsp(ca_id: str, request_der: bytes) -> Response:
        if private is None:
            return not_found("OCSP responder")
        answer = await asyncio.to_thread(private.ocsp_response, ca_id, request_der, now=time.time())
        if answer is None:
            return not_found("OCSP responder")
        return Response(answer, media_type="application/ocsp-response")

    async def ocsp_post(request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_OCSP_REQUEST_BYTES:
            body = b""  # answered malformedRequest
        return await answer_ocsp(request.path_params["ca_id"], body)

    async def ocsp_get(request: Request) -> Response:
        encoded = request.path_params["encoded"]
        try:
            request_der = ocsp_request_from_get_path(encoded)
        except ValueError:
            request_der = b""
        return await answer_ocsp(request.path_params["ca_id"], request_der)

    async def audit_report(request: Request) -> Response:
        # A private CA's audit report, at the S3Key the API answered (services/pca/
        # audit_reports.py): what AWS would have put in the caller's bucket.
        if audit_reports is None:
            return not_found("audit report")
        found = await asyncio.to_thread(
            audit_reports.served_file, request.path_params["ca_id"], request.path_params["name"]
        )
        if found is None:
            return not_found("audit report")
        path, media_type = found
        return FileResponse(path, media_type=media_type)

    return [
        Route("/audit-report/{ca_id}/{name}", audit_report, methods=["GET"]),
        Route("/ca/roots.pem", roots, methods=["GET"]),
        Route("/ca/{ca_id}.cer", ca_certificate, methods=["GET"]),
        Route("/crl/{ca_id}.crl", crl, methods=["GET"]),
        Route("/ocsp/{ca_id}", ocsp_post, methods=["POST"]),
        Route("/ocsp/{ca_id}/{encoded:path}", ocsp_get, methods=["GET"]),
    ]
