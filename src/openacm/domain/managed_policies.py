"""The AWS managed policies openacm ships, as AWS publishes them (inventory §12 for ACM's).

They are attached by ARN (`arn:aws:iam::aws:policy/<name>`) like any managed policy and can
be neither changed nor deleted.
"""

from __future__ import annotations

import json
from typing import Any, Final

AWS_MANAGED_PREFIX: Final = "arn:aws:iam::aws:policy/"

_SERVICE_LINKED_ROLE = (
    "arn:aws:iam::*:role/aws-service-role/acm.amazonaws.com/AWSServiceRoleForCertificateManager*"
)


def _document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)}, indent=2)


MANAGED_POLICIES: Final[dict[str, str]] = {
    # Inventory §12, L2876-2893.
    "AWSCertificateManagerReadOnly": _document(
        {
            "Effect": "Allow",
            "Action": [
                "acm:DescribeCertificate",
                "acm:ListCertificates",
                "acm:GetCertificate",
                "acm:ListTagsForCertificate",
                "acm:GetAccountConfiguration",
            ],
            "Resource": "*",
        }
    ),
    # Inventory §12, L2905-2941.
    "AWSCertificateManagerFullAccess": _document(
        {"Effect": "Allow", "Action": ["acm:*"], "Resource": "*"},
        {
            "Effect": "Allow",
            "Action": "iam:CreateServiceLinkedRole",
            "Resource": _SERVICE_LINKED_ROLE,
            "Condition": {"StringEquals": {"iam:AWSServiceName": "acm.amazonaws.com"}},
        },
        {
            "Effect": "Allow",
            "Action": [
                "iam:DeleteServiceLinkedRole",
                "iam:GetServiceLinkedRoleDeletionStatus",
                "iam:GetRole",
            ],
            "Resource": _SERVICE_LINKED_ROLE,
        },
    ),
    "AWSPrivateCAReadOnlyAccess": _document(
        {
            "Effect": "Allow",
            "Action": [
                "acm-pca:DescribeCertificateAuthority",
                "acm-pca:DescribeCertificateAuthorityAuditReport",
                "acm-pca:ListCertificateAuthorities",
                "acm-pca:GetCertificateAuthorityCsr",
                "acm-pca:GetCertificateAuthorityCertificate",
                "acm-pca:GetCertificate",
                "acm-pca:GetPolicy",
                "acm-pca:ListPermissions",
                "acm-pca:ListTags",
            ],
            "Resource": "*",
        }
    ),
    "AWSPrivateCAFullAccess": _document(
        {"Effect": "Allow", "Action": ["acm-pca:*"], "Resource": "*"}
    ),
    # Issue end-entity certificates only (the EndEntityCertificate templates), read the CAs.
    "AWSPrivateCAUser": _document(
        {
            "Effect": "Allow",
            "Action": ["acm-pca:IssueCertificate"],
            "Resource": "arn:aws:acm-pca:*:*:certificate-authority/*",
            "Condition": {
                "ArnLike": {
                    "acm-pca:TemplateArn": ["arn:aws:acm-pca:::template/EndEntityCertificate/V*"]
                }
            },
        },
        {
            "Effect": "Deny",
            "Action": ["acm-pca:IssueCertificate"],
            "Resource": "arn:aws:acm-pca:*:*:certificate-authority/*",
            "Condition": {
                "ArnNotLike": {
                    "acm-pca:TemplateArn": ["arn:aws:acm-pca:::template/EndEntityCertificate/V*"]
                }
            },
        },
        {
            "Effect": "Allow",
            "Action": [
                "acm-pca:RevokeCertificate",
                "acm-pca:GetCertificate",
                "acm-pca:ListPermissions",
            ],
            "Resource": "arn:aws:acm-pca:*:*:certificate-authority/*",
        },
        {"Effect": "Allow", "Action": ["acm-pca:ListCertificateAuthorities"], "Resource": "*"},
    ),
}


def managed_policy(arn: str) -> str | None:
    """The document of an AWS managed policy ARN openacm ships, else None."""
    if not arn.startswith(AWS_MANAGED_PREFIX):
        return None
    return MANAGED_POLICIES.get(arn.removeprefix(AWS_MANAGED_PREFIX))
