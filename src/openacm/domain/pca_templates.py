"""AWS Private CA's certificate templates: what each template ARN puts in a certificate.

A pure description of the AWS Private CA user guide's "Template definitions", "Template
varieties" and "Template order of operations"; `adapters/ca/private_issuance.py` applies it.
Templates come in up to four varieties:

- base: the template's own extensions; subject and subject alternative names copied from the
  CSR (every table says "[Passthrough from CSR]" for both);
- CSRPassthrough: base, plus every other extension of the CSR;
- APIPassthrough: base, plus IssueCertificate's `ApiPassthrough` (Subject and Extensions);
- APICSRPassthrough: both.

Order of operations, per extension: the template's definition wins, then the CA configuration
(CRL distribution point, OCSP URL), then the API passthrough, then the CSR. Only the blank
templates (Blank*) leave keyUsage and extendedKeyUsage to the API and the CSR; the others fix
both (the CA templates fix "no extendedKeyUsage"). The root templates define no authority key
identifier (RootCACertificate_APIPassthrough takes one from the API) and no CRL distribution
point ("a self-signed certificate cannot be revoked").

Where openacm departs from the tables, on purpose:
- keyEncipherment (EndEntityCertificate, its ClientAuth and ServerAuth variants) is asserted
  for RSA subject keys only: RFC 8813 forbids it for EC keys, and ML-DSA keys only sign.
- The blank CA templates fix no keyUsage; if neither the API nor the CSR gives one, the CA key
  usage (digitalSignature, keyCertSign, cRLSign) is used, since RFC 5280 4.2.1.3 requires the
  extension in a CA certificate that signs certificates or CRLs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, ObjectIdentifier

from openacm.domain.errors import InvalidArnError

__all__ = [
    "CA_KEY_USAGE",
    "DEFAULT_TEMPLATE_NAME",
    "TEMPLATES",
    "CertificateTemplate",
    "TemplateKind",
    "template_arn",
    "template_for_arn",
]

TemplateKind = Literal["end_entity", "subordinate_ca", "root_ca"]

# IssueCertificate without TemplateArn: "defaults to the EndEntityCertificate/V1 template".
DEFAULT_TEMPLATE_NAME: Final = "EndEntityCertificate/V1"

# Key usage bits by cryptography's `x509.KeyUsage` argument names.
_DIGITAL_SIGNATURE: Final = "digital_signature"
_KEY_ENCIPHERMENT: Final = "key_encipherment"
CA_KEY_USAGE: Final = frozenset({_DIGITAL_SIGNATURE, "key_cert_sign", "crl_sign"})

# The extensions every template defines itself; neither passthrough can replace them.
_ALWAYS_TEMPLATE_OWNED: Final = frozenset(
    {ExtensionOID.BASIC_CONSTRAINTS, ExtensionOID.SUBJECT_KEY_IDENTIFIER}
)

_TEMPLATE_ARN = re.compile(r"arn:(?P<partition>[\w-]+):acm-pca:::template/(?P<name>.+)")


@dataclass(frozen=True)
class CertificateTemplate:
    """One template ARN's definition.

    `key_usage` is None when the template leaves it open (blank templates);
    `extended_key_usage` likewise, and is () when the template fixes "none" (CA templates).
    `rsa_only_key_usage` are bits asserted only for RSA subject keys (see the module doc)."""

    name: str  # the part after "template/", e.g. "EndEntityCertificate_APIPassthrough/V1"
    kind: TemplateKind
    path_length: int | None
    basic_constraints_critical: bool
    key_usage: frozenset[str] | None
    extended_key_usage: tuple[ObjectIdentifier, ...] | None
    extended_key_usage_critical: bool
    api_passthrough: bool
    csr_passthrough: bool
    rsa_only_key_usage: frozenset[str] = frozenset()

    @property
    def is_ca(self) -> bool:
        return self.kind != "end_entity"

    @property
    def self_signed(self) -> bool:
        """Root templates: the CA signs its own CSR; no CRL DP or AIA (nothing above it)."""
        return self.kind == "root_ca"

    @property
    def template_owned(self) -> frozenset[ObjectIdentifier]:
        """Extensions only the template decides, whatever the passthroughs say."""
        owned = set(_ALWAYS_TEMPLATE_OWNED)
        if not self.self_signed:
            owned.add(ExtensionOID.AUTHORITY_KEY_IDENTIFIER)  # [SKI from CA certificate]
        if self.key_usage is not None:
            owned.add(ExtensionOID.KEY_USAGE)
        if self.extended_key_usage is not None:
            owned.add(ExtensionOID.EXTENDED_KEY_USAGE)
        return frozenset(owned)

    def key_usage_for(self, subject_key_is_rsa: bool) -> frozenset[str] | None:
        if self.key_usage is None:
            return None
        if subject_key_is_rsa:
            return self.key_usage
        return self.key_usage - self.rsa_only_key_usage


def template_arn(name: str, partition: str = "aws") -> str:
    return f"arn:{partition}:acm-pca:::template/{name}"


def template_for_arn(arn: str | None) -> CertificateTemplate:
    """The template `arn` names (EndEntityCertificate/V1 when None). Raises InvalidArnError for
    an ARN that names no template."""
    if arn is None:
        return TEMPLATES[DEFAULT_TEMPLATE_NAME]
    match = _TEMPLATE_ARN.fullmatch(arn)
    template = TEMPLATES.get(match.group("name")) if match else None
    if template is None:
        raise InvalidArnError(f"The template ARN {arn} is not valid.")
    return template


# --- The catalogue ----------------------------------------------------------------------------

_VARIETIES: Final[tuple[tuple[str, bool, bool], ...]] = (
    # (name suffix, API passthrough, CSR passthrough)
    ("", False, False),
    ("_CSRPassthrough", False, True),
    ("_APIPassthrough", True, False),
    ("_APICSRPassthrough", True, True),
)
_PATH_LENGTHS: Final = range(4)


def _end_entity_family(
    base: str, key_usage: frozenset[str], eku: ObjectIdentifier | tuple[ObjectIdentifier, ...]
) -> list[CertificateTemplate]:
    # The single-purpose signing templates mark their EKU critical ("Critical, code signing",
    # "Critical, OCSP signing"); the TLS ones do not.
    critical = isinstance(eku, ObjectIdentifier)
    usages = (eku,) if isinstance(eku, ObjectIdentifier) else eku
    return [
        CertificateTemplate(
            name=f"{base}{suffix}/V1",
            kind="end_entity",
            path_length=None,
            basic_constraints_critical=False,
            key_usage=key_usage,
            extended_key_usage=usages,
            extended_key_usage_critical=critical,
            api_passthrough=api,
            csr_passthrough=csr,
            rsa_only_key_usage=frozenset({_KEY_ENCIPHERMENT}),
        )
        for suffix, api, csr in _VARIETIES
    ]


def _subordinate_family(path_length: int) -> list[CertificateTemplate]:
    return [
        CertificateTemplate(
            name=f"SubordinateCACertificate_PathLen{path_length}{suffix}/V1",
            kind="subordinate_ca",
            path_length=path_length,
            basic_constraints_critical=True,
            key_usage=CA_KEY_USAGE,
            extended_key_usage=(),
            extended_key_usage_critical=False,
            api_passthrough=api,
            csr_passthrough=csr,
        )
        for suffix, api, csr in _VARIETIES
    ]


def _root_templates() -> list[CertificateTemplate]:
    return [
        CertificateTemplate(
            name=f"RootCACertificate{suffix}/V1",
            kind="root_ca",
            path_length=None,
            basic_constraints_critical=True,
            key_usage=CA_KEY_USAGE,
            extended_key_usage=(),
            extended_key_usage_critical=False,
            api_passthrough=api,
            csr_passthrough=False,
        )
        for suffix, api in (("", False), ("_APIPassthrough", True))
    ]


# (kind, name, basicConstraints critical, path lengths, varieties (suffix, API, CSR))
_BlankFamily = tuple[
    TemplateKind, str, bool, tuple[int | None, ...], tuple[tuple[str, bool, bool], ...]
]


def _blank_templates() -> list[CertificateTemplate]:
    # Blank end-entity and subordinate templates come in three varieties (no base one); blank
    # root templates in the API one only.
    blank_varieties = (
        ("_APIPassthrough", True, False),
        ("_CSRPassthrough", False, True),
        ("_APICSRPassthrough", True, True),
    )
    families: tuple[_BlankFamily, ...] = (
        ("end_entity", "BlankEndEntityCertificate", False, (None,), blank_varieties),
        (
            "end_entity",
            "BlankEndEntityCertificate_CriticalBasicConstraints",
            True,
            (None,),
            blank_varieties,
        ),
        ("subordinate_ca", "BlankSubordinateCACertificate", True, (0, 1, 2, 3), blank_varieties),
        ("root_ca", "BlankRootCACertificate", True, (None, 0, 1, 2, 3), blank_varieties[:1]),
    )
    return [
        CertificateTemplate(
            name=f"{base}{'' if n is None else f'_PathLen{n}'}{suffix}/V1",
            kind=kind,
            path_length=n,
            basic_constraints_critical=critical,
            key_usage=None,
            extended_key_usage=None,
            extended_key_usage_critical=False,
            api_passthrough=api,
            csr_passthrough=csr,
        )
        for kind, base, critical, path_lengths, varieties in families
        for n in path_lengths
        for suffix, api, csr in varieties
    ]


def _catalogue() -> dict[str, CertificateTemplate]:
    server_and_client = (ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH)
    signature_only = frozenset({_DIGITAL_SIGNATURE})
    signature_and_encipherment = frozenset({_DIGITAL_SIGNATURE, _KEY_ENCIPHERMENT})
    templates = [
        *_end_entity_family("EndEntityCertificate", signature_and_encipherment, server_and_client),
        *_end_entity_family(
            "EndEntityClientAuthCertificate",
            signature_and_encipherment,
            (ExtendedKeyUsageOID.CLIENT_AUTH,),
        ),
        *_end_entity_family(
            "EndEntityServerAuthCertificate",
            signature_and_encipherment,
            (ExtendedKeyUsageOID.SERVER_AUTH,),
        ),
        *_end_entity_family(
            "CodeSigningCertificate", signature_only, ExtendedKeyUsageOID.CODE_SIGNING
        ),
        *_end_entity_family(
            "OCSPSigningCertificate", signature_only, ExtendedKeyUsageOID.OCSP_SIGNING
        ),
        *(template for n in _PATH_LENGTHS for template in _subordinate_family(n)),
        *_root_templates(),
        *_blank_templates(),
    ]
    return {template.name: template for template in templates}


TEMPLATES: Final[dict[str, CertificateTemplate]] = _catalogue()
