"""ListCertificates filters and SearchCertificates filter statements, compiled to SQL.

The meaning of each filter is ACM's (see domain/certificates.py for the defaults); this module
only says it in SQL, so a page of results is one indexed query whatever the filters are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Integer, and_, false, not_, or_, true
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import GenericFunction

from openacm.adapters.store.schema import certificates

c = certificates.c


def _equals(column: Any, value: object) -> ColumnElement[bool]:
    # False, not NULL, where the column is NULL: Not of a filter on an attribute a certificate
    # lacks (no common name, no export option) must select that certificate.
    if isinstance(value, str) and "\x00" in value:
        return false()  # no stored text holds a NUL, and PostgreSQL refuses one in a query
    return and_(column.is_not(None), column == value)


class _strpos(GenericFunction[int]):
    """Where a substring starts (1-based; 0 when absent), case-sensitive on every backend:
    strpos in PostgreSQL, instr in SQLite. (LIKE ignores ASCII case in SQLite but not in
    PostgreSQL, so a LIKE-based CONTAINS would answer differently per backend.)"""

    type = Integer()
    inherit_cache = True
    name = "strpos"


@compiles(_strpos, "sqlite")
def _strpos_sqlite(element: _strpos, compiler: SQLCompiler, **kw: Any) -> str:
    return f"instr({compiler.process(element.clauses, **kw)})"


def _contains(column: Any, value: str) -> ColumnElement[bool]:
    if "\x00" in value:
        return false()  # as in _equals
    return and_(column.is_not(None), _strpos(column, value) > 0)


def status_is(status: str, now: float) -> ColumnElement[bool]:
    """The effective status (an ISSUED certificate past NotAfter is EXPIRED)."""
    if status == "EXPIRED":
        return or_(c.status == "EXPIRED", and_(c.status == "ISSUED", c.not_after < now))
    if status == "ISSUED":
        return and_(c.status == "ISSUED", c.not_after >= now)
    return c.status == status


def status_in(statuses: Sequence[str], now: float) -> ColumnElement[bool]:
    return or_(*(status_is(s, now) for s in dict.fromkeys(statuses)))


def _has_item(column: Any, value: str) -> ColumnElement[bool]:
    result: ColumnElement[bool] = column.contains("," + value + ",", autoescape=True)
    return result


def _extended_key_usage_is(value: str) -> ColumnElement[bool]:
    # NONE names certificates without the extension (ListCertificates shows them as ["NONE"]).
    if value == "NONE":
        return c.extended_key_usages_text == ""
    return _has_item(c.extended_key_usages_text, value)


def list_conditions(
    statuses: Sequence[str],
    key_pair_origins: Sequence[str],
    includes: Mapping[str, Any],
    *,
    default_key_types: Sequence[str],
    now: float,
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if statuses:
        conditions.append(status_in(statuses, now))
    conditions.append(c.key_pair_origin.in_(list(key_pair_origins)))
    key_types = includes.get("keyTypes")
    if key_types:
        conditions.append(c.key_algorithm.in_(list(key_types)))
    else:
        conditions.append(c.key_algorithm.in_(list(default_key_types)))
        conditions.append(c.has_domain == true())
    for value_list, matcher in (
        (includes.get("extendedKeyUsage"), _extended_key_usage_is),
        (includes.get("keyUsage"), lambda v: _has_item(c.key_usages_text, v)),
    ):
        if value_list:
            conditions.append(or_(*(matcher(v) for v in value_list)))
    if includes.get("exportOption"):
        conditions.append(c.export_option == includes["exportOption"])
    if includes.get("managedBy"):
        conditions.append(c.managed_by == includes["managedBy"])
    return conditions


# -- SearchCertificates ----------------------------------------------------------------------

SEARCH_SORT_COLUMNS: dict[str, Any] = {
    "CERTIFICATE_ARN": c.arn,
    "COMMON_NAME": c.common_name,
    "CERTIFICATE_KEY_PAIR_ORIGIN": c.key_pair_origin,
}


def search_sort_column(sort_by: str) -> Any:
    if sort_by in SEARCH_SORT_COLUMNS:
        return SEARCH_SORT_COLUMNS[sort_by]
    return getattr(c, sort_by.lower())


def search_condition(statement: Mapping[str, Any], now: float) -> ColumnElement[bool]:
    """One CertificateFilterStatement (a union: And | Or | Not | Filter)."""
    if "And" in statement:
        return and_(true(), *(search_condition(s, now) for s in statement["And"]))
    if "Or" in statement:
        return or_(false(), *(search_condition(s, now) for s in statement["Or"]))
    if "Not" in statement:
        return not_(search_condition(statement["Not"], now))
    return _filter_condition(statement["Filter"], now)


def _filter_condition(flt: Mapping[str, Any], now: float) -> ColumnElement[bool]:
    if "CertificateArn" in flt:
        return _equals(c.arn, flt["CertificateArn"])
    if "X509AttributeFilter" in flt:
        return _x509_condition(flt["X509AttributeFilter"])
    return _metadata_condition(flt["AcmCertificateMetadataFilter"], now)


def _compare(column: Any, comparison: Mapping[str, str]) -> ColumnElement[bool]:
    value = comparison["Value"]
    if comparison["ComparisonOperator"] == "EQUALS":
        return _equals(column, value)
    return _contains(column, value)


def _name_condition(comparison: Mapping[str, str]) -> ColumnElement[bool]:
    value = comparison["Value"]
    if "\n" in value:
        return false()
    if comparison["ComparisonOperator"] == "EQUALS":
        value = "\n" + value + "\n"
    return _contains(c.names_text, value)


def _range(column: Any, span: Mapping[str, datetime]) -> ColumnElement[bool]:
    parts = [true()]
    if span.get("Start") is not None:
        parts.append(column >= span["Start"].timestamp())
    if span.get("End") is not None:
        parts.append(column <= span["End"].timestamp())
    return and_(*parts)


def _x509_condition(flt: Mapping[str, Any]) -> ColumnElement[bool]:
    if "Subject" in flt:
        return _compare(c.common_name, flt["Subject"]["CommonName"])
    if "SubjectAlternativeName" in flt:
        return _name_condition(flt["SubjectAlternativeName"]["DnsName"])
    if "ExtendedKeyUsage" in flt:
        return _extended_key_usage_is(flt["ExtendedKeyUsage"])
    if "KeyUsage" in flt:
        return _has_item(c.key_usages_text, flt["KeyUsage"])
    if "KeyAlgorithm" in flt:
        return _equals(c.key_algorithm, flt["KeyAlgorithm"])
    if "SerialNumber" in flt:
        return _equals(c.serial, flt["SerialNumber"])
    if "NotAfter" in flt:
        return _range(c.not_after, flt["NotAfter"])
    return _range(c.not_before, flt["NotBefore"])


_METADATA_COLUMNS: dict[str, Any] = {
    "RenewalStatus": c.renewal_status,
    "Type": c.type,
    "InUse": c.in_use,
    "Exported": c.exported,
    "ExportOption": c.export_option,
    "ManagedBy": c.managed_by,
    "ValidationMethod": c.validation_method,
    "CertificateKeyPairOrigin": c.key_pair_origin,
    "AcmeEndpointArn": c.acme_endpoint_arn,
    "AcmeAccountId": c.acme_account_id,
}


def _metadata_condition(flt: Mapping[str, Any], now: float) -> ColumnElement[bool]:
    ((member, value),) = flt.items()
    if member == "Status":
        return status_is(value, now)
    return _equals(_METADATA_COLUMNS[member], value)
