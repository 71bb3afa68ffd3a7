"""What the ACME server refuses, and with which RFC 8555 problem type: bad JWS, bad nonces,
other accounts' resources, orders not ready, CSRs that do not match, failed dns-01."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from openacm.domain.acme_server import b64url, dns01_txt_value
from openacm.protocol.acme import thumbprint
from tests.conftest import Tenant, finish_server, start_server
from tests.support.acme_client import (
    AcmeTestClient,
    Endpoint,
    binding_jws,
    create_endpoint,
    csr_der_b64,
    ec_key,
    ed25519_key,
    problem_type,
    rsa_key,
)
from tests.support.bind import BindServer
from tests.support.server import OpenAcmServer

DER = Encoding.DER


def directory_of(tenant: Tenant, contact: str = "NOT_REQUIRED") -> Endpoint:
    return create_endpoint(tenant.acm, Contact=contact)


def test_directory_and_nonces(sqlite_tenant: Tenant) -> None:
    url = directory_of(sqlite_tenant).url
    answer = httpx.get(url)
    assert answer.status_code == 200
    assert answer.headers["Replay-Nonce"]
    assert answer.headers["Cache-Control"] == "no-store"
    directory = answer.json()
    base = url.removesuffix("/directory")
    assert directory["newNonce"] == f"{base}/new-nonce"
    assert directory["newAccount"] == f"{base}/new-account"
    assert directory["newOrder"] == f"{base}/new-order"
    head = httpx.head(directory["newNonce"])
    assert head.status_code == 200 and head.headers["Replay-Nonce"]
    assert httpx.get(directory["newNonce"]).status_code == 204

    missing = url.replace(base.rsplit("/", 1)[1], str(uuid.uuid4()))
    answer = httpx.get(missing)
    assert answer.status_code == 404
    assert problem_type(answer) == "malformed"


def test_accounts_with_each_algorithm(sqlite_tenant: Tenant) -> None:
    endpoint = directory_of(sqlite_tenant)
    for key in (ec_key(), ec_key(ec.SECP384R1()), rsa_key(), ed25519_key()):
        client = endpoint.client(key)
        created = client.new_account(contact=["mailto:ops@example.com"])
        assert created.status_code == 201, created.text
        assert created.json()["status"] == "valid"
        again = client.new_account()
        assert again.status_code == 200
        assert again.headers["Location"] == created.headers["Location"]
        read = client.post(client.kid or "", None)
        assert read.json()["contact"] == ["mailto:ops@example.com"]


def test_bad_nonces(sqlite_tenant: Tenant) -> None:
    client = directory_of(sqlite_tenant).client()
    url = client.directory()["newAccount"]
    answer = client.post(url, {}, nonce="bm90LWEtbm9uY2U", use_jwk=True)
    assert answer.status_code == 400
    assert problem_type(answer) == "badNonce"
    assert answer.headers["Replay-Nonce"]  # a fresh one to retry with (§6.5)

    assert client.eab is not None
    payload = {"externalAccountBinding": binding_jws(client.key, url, *client.eab)}
    body = client.signed_body(url, payload, use_jwk=True)
    assert client.post_body(url, body).status_code == 201
    replayed = client.post_body(url, body)
    assert problem_type(replayed) == "badNonce"


def test_bad_jws(sqlite_tenant: Tenant) -> None:
    client = directory_of(sqlite_tenant).client()
    url = client.directory()["newAccount"]

    body = client.signed_body(url, {"contact": []}, use_jwk=True)
    body["payload"] = b64url(json.dumps({"contact": ["mailto:evil@example.com"]}).encode())
    answer = client.post_body(url, body)
    assert answer.status_code == 400
    assert problem_type(answer) == "malformed"

    header = {"alg": "HS256", "nonce": client.nonce(), "url": url, "jwk": {"kty": "oct"}}
    forged = {
        "protected": b64url(json.dumps(header).encode()),
        "payload": b64url(b"{}"),
        "signature": b64url(b"x"),
    }
    answer = client.post_body(url, forged)
    assert problem_type(answer) == "badSignatureAlgorithm"
    assert answer.json()["algorithms"] == ["RS256", "ES256", "ES384", "EdDSA"]

    # A key of another type than the algorithm's (an RSA key claiming ES256), a key without
    # its members.
    for jwk in (rsa_key().public_key().to_json(), {"kty": "EC", "crv": "P-256"}):
        header = {"alg": "ES256", "nonce": client.nonce(), "url": url, "jwk": jwk}
        mismatched = {
            "protected": b64url(json.dumps(header).encode()),
            "payload": b64url(b"{}"),
            "signature": b64url(b"x" * 64),
        }
        assert problem_type(client.post_body(url, mismatched)) == "malformed"

    answer = client.post(url + "?elsewhere", {}, use_jwk=True)
    assert problem_type(answer) == "unauthorized"
    answer = httpx.post(url, content=b"not json")
    assert problem_type(answer) == "malformed"

    # A kid that names no account.
    client.kid = url.replace("new-account", f"acct/{uuid.uuid4()}")
    answer = client.new_order("a.example.com")
    assert problem_type(answer) == "accountDoesNotExist"


def test_external_account_bindings(sqlite_tenant: Tenant) -> None:
    acm = sqlite_tenant.acm
    endpoint = directory_of(sqlite_tenant)
    assert endpoint.client().directory()["meta"]["externalAccountRequired"] is True
    kid, mac = endpoint.eab

    def refusal(client: AcmeTestClient, binding: Any = None) -> str:
        payload = {} if binding is None else {"externalAccountBinding": binding}
        return problem_type(client.new_account(**payload))

    bare = AcmeTestClient(endpoint.url)
    assert refusal(bare) == "externalAccountRequired"
    url = bare.directory()["newAccount"]
    other_mac = b64url(b"k" * 32)
    assert refusal(bare, binding_jws(bare.key, url, kid, other_mac)) == "unauthorized"
    assert refusal(bare, binding_jws(bare.key, url, str(uuid.uuid4()), mac)) == "unauthorized"
    assert refusal(bare, binding_jws(bare.key, url + "x", kid, mac)) == "malformed"
    assert refusal(bare, binding_jws(ec_key(), url, kid, mac)) == "malformed"
    assert refusal(bare, {"protected": "e30", "payload": "", "signature": ""}) == "malformed"
    # Another endpoint's binding does not register accounts here.
    elsewhere = directory_of(sqlite_tenant)
    assert refusal(bare, binding_jws(bare.key, url, *elsewhere.eab)) == "unauthorized"
    # Nothing was registered by all that.
    assert acm.list_acme_accounts(AcmeEndpointArn=endpoint.arn)["AcmeAccounts"] == []

    assert endpoint.client().new_account().status_code == 201
    used = acm.describe_acme_external_account_binding(
        AcmeExternalAccountBindingArn=endpoint.binding_arn
    )["ExternalAccountBinding"]
    assert "LastUsedAt" in used and "RevokedAt" not in used

    acm.revoke_acme_external_account_binding(AcmeExternalAccountBindingArn=endpoint.binding_arn)
    assert refusal(endpoint.client()) == "unauthorized"
    acm.delete_acme_external_account_binding(AcmeExternalAccountBindingArn=endpoint.binding_arn)
    assert refusal(endpoint.client()) == "unauthorized"
    assert len(acm.list_acme_accounts(AcmeEndpointArn=endpoint.arn)["AcmeAccounts"]) == 1


def test_the_binding_role_limits_the_orders(sqlite_tenant: Tenant) -> None:
    """A binding whose RoleArn names an IAM role of the endpoint's account: its ACME accounts
    order only what the role's policies let it request (acm:RequestCertificate with
    acm:DomainNames), refused with `unauthorized` and AWS's message otherwise."""
    from openacm.services.iam.admin import IamAdmin

    account_id, acm = sqlite_tenant.account_id, sqlite_tenant.acm
    admin = IamAdmin(sqlite_tenant.server._runtime().db)
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
             "Principal": {"Service": "acm.amazonaws.com"}}]}  # fmt: skip
    admin.create_role(account_id, "team-a-acme", json.dumps(trust))
    allow = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "acm:RequestCertificate", "Resource": "*",
        "Condition": {"ForAllValues:StringLike": {"acm:DomainNames": ["*.team-a.example.com"]}},
    }]}  # fmt: skip
    admin.put_inline(account_id, "role", "team-a-acme", "orders", json.dumps(allow))
    endpoint = directory_of(sqlite_tenant)
    role_arn = f"arn:aws:iam::{account_id}:role/team-a-acme"
    binding = acm.create_acme_external_account_binding(
        AcmeEndpointArn=endpoint.arn, RoleArn=role_arn
    )["ExternalAccountBinding"]["AcmeExternalAccountBindingArn"]
    credentials = acm.get_acme_external_account_binding_credentials(
        AcmeExternalAccountBindingArn=binding
    )
    client = AcmeTestClient(
        endpoint.url, ec_key(), eab=(credentials["KeyId"], credentials["MacKey"])
    )
    assert client.new_account().status_code == 201
    refused = client.new_order("www.team-a.example.com", "www.team-b.example.com")
    assert refused.status_code == 403 and problem_type(refused) == "unauthorized"
    assert refused.json()["detail"].startswith(
        f"User: arn:aws:sts::{account_id}:assumed-role/team-a-acme/acme-"
    )
    assert "is not authorized to perform: acm:RequestCertificate" in refused.json()["detail"]
    # The role's own names pass its policies (and then meet the endpoint's authorization).
    allowed = client.new_order("www.team-a.example.com")
    assert allowed.status_code == 201 or problem_type(allowed) == "rejectedIdentifier"
    # An account of the endpoint's other binding (a role openacm does not hold) is not limited.
    other = endpoint.client()
    assert other.new_account().status_code == 201
    unlimited = other.new_order("www.team-b.example.com")
    assert unlimited.status_code == 201 or problem_type(unlimited) == "rejectedIdentifier"


def test_contact_required(sqlite_tenant: Tenant) -> None:
    client = directory_of(sqlite_tenant, contact="REQUIRED").client()
    assert problem_type(client.new_account()) == "invalidContact"
    assert problem_type(client.new_account(contact=["tel:+1555"])) == "unsupportedContact"
    assert client.new_account(contact=["mailto:ops@example.com"]).status_code == 201


def test_orders_of_other_accounts_and_not_ready(pki_tenant: Tenant) -> None:
    endpoint = directory_of(pki_tenant)
    alice, mallory = endpoint.client(), endpoint.client()
    alice.new_account()
    mallory.new_account()
    order = alice.new_order("Shop.example.com", "shop.example.com")
    assert order.status_code == 201, order.text
    document = order.json()
    assert document["status"] == "pending"
    assert document["identifiers"] == [{"type": "dns", "value": "shop.example.com"}]
    assert len(document["authorizations"]) == 1

    for target in (order.headers["Location"], document["authorizations"][0]):
        answer = mallory.post(target, None)
        assert answer.status_code == 403
        assert problem_type(answer) == "unauthorized"
    authz = alice.post(document["authorizations"][0], None).json()
    assert authz["status"] == "pending"
    assert [c["type"] for c in authz["challenges"]] == ["dns-01"]

    csr = csr_der_b64(ec.generate_private_key(ec.SECP256R1()), ["shop.example.com"])
    answer = alice.post(document["finalize"], {"csr": csr})
    assert answer.status_code == 403
    assert problem_type(answer) == "orderNotReady"

    answer = alice.post(
        alice.directory()["newOrder"], {"identifiers": [{"type": "ip", "value": "192.0.2.1"}]}
    )
    assert problem_type(answer) == "unsupportedIdentifier"
    for bad in ("a..b.example.com", "a.*.example.com", "xn--zz.example.com"):
        assert problem_type(alice.new_order(bad)) == "rejectedIdentifier"


def test_dns01_and_the_csr_check(pki_tenant: Tenant, bind_server: BindServer) -> None:
    client = directory_of(pki_tenant).client()
    client.new_account()
    good = f"ok-{uuid.uuid4().hex[:8]}.openacm-test.com"
    bad = f"no-{uuid.uuid4().hex[:8]}.openacm-test.com"

    # No TXT record: the challenge fails, and with it the authorization and the order.
    order = client.new_order(bad).json()
    authz = client.post(order["authorizations"][0], None).json()
    challenge = client.post(authz["challenges"][0]["url"], {}).json()
    assert challenge["status"] == "invalid"
    assert challenge["error"]["type"] == "urn:ietf:params:acme:error:incorrectResponse"
    assert client.post(order["authorizations"][0], None).json()["status"] == "invalid"

    order_answer = client.new_order(good)
    order = order_answer.json()
    authz = client.post(order["authorizations"][0], None).json()
    token = authz["challenges"][0]["token"]
    bind_server.add_txt(f"_acme-challenge.{good}", dns01_txt_value(token, thumbprint(client.key)))
    challenge = client.post(authz["challenges"][0]["url"], {}).json()
    assert challenge["status"] == "valid", challenge
    order_url = order_answer.headers["Location"]
    assert client.post(order_url, None).json()["status"] == "ready"

    key = ec.generate_private_key(ec.SECP256R1())
    wrong = client.post(order["finalize"], {"csr": csr_der_b64(key, [good, f"x.{good}"])})
    assert problem_type(wrong) == "badCSR"
    p521 = ec.generate_private_key(ec.SECP521R1())
    assert problem_type(client.post(order["finalize"], {"csr": csr_der_b64(p521, [good])})) in (
        "badPublicKey",
    )
    finalized = client.post(order["finalize"], {"csr": csr_der_b64(key, [good])})
    assert finalized.status_code == 200, finalized.text
    assert finalized.json()["status"] == "valid"
    chain = client.post(finalized.json()["certificate"], None)
    assert chain.headers["Content-Type"].startswith("application/pem-certificate-chain")
    assert chain.text.count("BEGIN CERTIFICATE") == 3
    again = client.post(order["finalize"], {"csr": csr_der_b64(key, [good])})
    assert problem_type(again) == "orderNotReady"

    # revokeCert: only by the account that ordered it, with an accepted reason, once.
    der = b64url(x509.load_pem_x509_certificates(chain.text.encode())[0].public_bytes(DER))
    revoke_url = client.directory()["revokeCert"]
    stranger = AcmeTestClient(client.directory_url, eab=client.eab)
    stranger.new_account()
    answer = stranger.post(revoke_url, {"certificate": der})
    assert problem_type(answer) == "unauthorized"
    answer = client.post(revoke_url, {"certificate": der, "reason": 6})
    assert problem_type(answer) == "badRevocationReason"
    assert client.post(revoke_url, {"certificate": der, "reason": 1}).status_code == 200
    assert problem_type(client.post(revoke_url, {"certificate": der})) == "alreadyRevoked"
    listed = pki_tenant.acm.list_certificates(
        CertificateStatuses=["REVOKED"],
        Includes={"keyTypes": ["EC_prime256v1"]},
        CertificateKeyPairOrigins=["ACME"],
    )["CertificateSummaryList"]
    assert [summary["DomainName"] for summary in listed] == [good]


def test_acme_accounts_in_acm(pki_tenant: Tenant) -> None:
    acm = pki_tenant.acm
    endpoint = directory_of(pki_tenant)
    url, arn = endpoint.url, endpoint.arn
    clients = [endpoint.client() for _ in range(3)]
    for client in clients:
        assert client.new_account(contact=["mailto:ops@example.com"]).status_code == 201
    urls = [client.kid for client in clients]

    seen: list[str] = []
    kwargs: dict[str, Any] = {"AcmeEndpointArn": arn, "MaxResults": 2}
    while True:
        page = acm.list_acme_accounts(**kwargs)
        seen += [account["AccountUrl"] for account in page["AcmeAccounts"]]
        if "NextToken" not in page:
            break
        kwargs["NextToken"] = page["NextToken"]
    assert seen == urls

    described = acm.describe_acme_account(AcmeEndpointArn=arn, AccountUrl=urls[0])["AcmeAccount"]
    assert described["Status"] == "VALID"
    assert described["Contacts"] == ["mailto:ops@example.com"]
    assert described["PublicKeyThumbprint"] == thumbprint(clients[0].key)
    assert described["AcmeExternalAccountBindingArn"] == endpoint.binding_arn

    acm.revoke_acme_account(AcmeEndpointArn=arn, AccountUrl=urls[0])
    described = acm.describe_acme_account(AcmeEndpointArn=arn, AccountUrl=urls[0])["AcmeAccount"]
    assert described["Status"] == "REVOKED"
    # The ACME server refuses the revoked account; the others go on.
    assert problem_type(clients[0].new_order("a.example.com")) == "unauthorized"
    assert clients[1].new_order("a.example.com").status_code == 201
    with pytest.raises(ClientError) as raised:
        acm.revoke_acme_account(AcmeEndpointArn=arn, AccountUrl=urls[0])
    assert raised.value.response["Error"]["Code"] == "ConflictException"
    with pytest.raises(ClientError) as raised:
        acm.describe_acme_account(AcmeEndpointArn=arn, AccountUrl=url + "/nope")
    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_account_deactivation(sqlite_tenant: Tenant) -> None:
    client = directory_of(sqlite_tenant).client()
    client.new_account()
    answer = client.post(client.kid or "", {"status": "deactivated"})
    assert answer.json()["status"] == "deactivated"
    assert problem_type(client.new_order("a.example.com")) == "unauthorized"


def test_orders_expire(tmp_path: Path) -> None:
    fresh_server = start_server(
        tmp_path, "sqlite", env={"OPENACM_ACME_SERVER_CHALLENGES": "dns-01"}
    )
    try:
        orders_expire(fresh_server)
    finally:
        finish_server(fresh_server)


def orders_expire(fresh_server: OpenAcmServer) -> None:
    account_id, key = fresh_server.new_account()
    tenant = Tenant(fresh_server, account_id, key, fresh_server.client(key=key))
    client = directory_of(tenant).client()
    client.new_account()
    answer = client.new_order("late.example.com")
    order_url, order = answer.headers["Location"], answer.json()
    # Eight days on the installation's (--dev) clock: past the seven-day order lifetime.
    moved = httpx.post(f"{fresh_server.endpoint}/dev/clock", json={"advance_seconds": 8 * 86400})
    assert moved.status_code == 200, moved.text
    expired = client.post(order_url, None).json()
    assert expired["status"] == "invalid"
    authz = client.post(order["authorizations"][0], None).json()
    assert authz["status"] == "expired"
    challenge = client.post(authz["challenges"][0]["url"], {}).json()
    assert challenge["status"] == "pending"  # not validated any more
    csr = csr_der_b64(ec.generate_private_key(ec.SECP256R1()), ["late.example.com"])
    assert problem_type(client.post(order["finalize"], {"csr": csr})) == "orderNotReady"
