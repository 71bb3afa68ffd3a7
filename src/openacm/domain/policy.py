"""IAM policy documents and their evaluation, as AWS evaluates them (no I/O).

A request is evaluated against the policies that apply to it:

* identity-based policies (a user's or role's inline and managed policies): an explicit Deny
  in any of them wins, otherwise an Allow is needed, otherwise the request is implicitly
  denied;
* session policies (AssumeRole's Policy / PolicyArns) intersect with the role's: the request
  needs an Allow in both;
* resource-based policies (an ACM-PCA CA's PutPolicy, a role's trust policy) name the
  principals they apply to with Principal / NotPrincipal.

Statements match by Action / NotAction (case-insensitive, `*` and `?` wildcards), Resource /
NotResource (case-sensitive wildcards, policy variables substituted) and every Condition
operator of the block (AND across operators and keys, OR across a key's values), with the
`ForAnyValue:` / `ForAllValues:` set qualifiers and the `...IfExists` suffix.
"""

from __future__ import annotations

import enum
import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property, lru_cache
from typing import Any

VERSIONS = ("2012-10-17", "2008-10-17")
MAX_POLICY_CHARS = 131_072


class MalformedPolicyError(ValueError):
    """A policy document that is not one IAM would accept (the message says why)."""


class Effect(enum.Enum):
    ALLOW = "Allow"
    DENY = "Deny"


class Decision(enum.Enum):
    ALLOW = "allow"
    EXPLICIT_DENY = "explicit deny"
    IMPLICIT_DENY = "implicit deny"


# -- the request ------------------------------------------------------------------------------

ContextValue = str | Sequence[str] | None


@dataclass(frozen=True)
class Request:
    """What is asked (action on resource) and the request context's keys.

    `context` maps condition keys (any case) to a string, a list of strings (multi-valued
    keys such as acm:DomainNames or aws:TagKeys) or None when the request does not carry the
    key. `principal_ids` are the identifiers a resource policy's Principal can name the
    caller by: its account id, `arn:<p>:iam::<account>:root`, its user or role ARN."""

    action: str
    resource: str
    context: Mapping[str, ContextValue] = field(default_factory=dict)
    principal_ids: frozenset[str] = frozenset()
    service_principal: str | None = None

    def value(self, key: str) -> ContextValue:
        return self._by_lower_key.get(key.lower())

    @cached_property
    def _by_lower_key(self) -> dict[str, ContextValue]:
        # Condition keys are case-insensitive: looked up by their lower-case form.
        return {key.lower(): value for key, value in self.context.items()}


# -- documents --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Condition:
    operator: str  # as written, e.g. "ForAnyValue:StringLike"
    key: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Statement:
    effect: Effect
    actions: tuple[str, ...]
    not_actions: bool
    resources: tuple[str, ...] | None  # None: the statement has no Resource element
    not_resources: bool
    principals: Mapping[str, tuple[str, ...]] | None  # "*" as {"*": ("*",)}
    not_principals: bool
    conditions: tuple[Condition, ...]
    sid: str | None = None


@dataclass(frozen=True)
class Policy:
    statements: tuple[Statement, ...]
    version: str = "2012-10-17"


def parse_policy(text: str, *, resource_policy: bool = False) -> Policy:
    """A policy document from its JSON text. Identity policies must have Resource or
    NotResource; resource policies (`resource_policy`) must have Principal or NotPrincipal."""
    if len(text) > MAX_POLICY_CHARS:
        raise MalformedPolicyError("Policy document is too large.")
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        raise MalformedPolicyError("Syntax errors in policy.") from None
    if not isinstance(document, dict):
        raise MalformedPolicyError("Syntax errors in policy.")
    version = document.get("Version", "2008-10-17")
    if version not in VERSIONS:
        raise MalformedPolicyError(f"The policy must contain a valid version string: {version}")
    raw = document.get("Statement")
    if raw is None:
        raise MalformedPolicyError("Missing required field Statement")
    items = raw if isinstance(raw, list) else [raw]
    unknown = set(document) - {"Version", "Id", "Statement"}
    if unknown:
        raise MalformedPolicyError(f"Policy document should not specify {sorted(unknown)[0]}")
    return Policy(tuple(_statement(item, resource_policy) for item in items), version)


def _statement(raw: Any, resource_policy: bool) -> Statement:
    if not isinstance(raw, dict):
        raise MalformedPolicyError("Syntax errors in policy.")
    effect = raw.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise MalformedPolicyError("Invalid effect in policy statement.")
    actions, not_actions = _either(raw, "Action", "NotAction", required=True)
    resources, not_resources = _either(raw, "Resource", "NotResource", required=False)
    principals, not_principals = _principal_element(raw)
    if resource_policy and principals is None:
        raise MalformedPolicyError("Missing required field Principal")
    if not resource_policy:
        if principals is not None:
            raise MalformedPolicyError("Policy document should not specify a principal.")
        if resources is None:
            raise MalformedPolicyError("Policy statement must contain resources.")
    sid = raw.get("Sid")
    if sid is not None and not isinstance(sid, str):
        raise MalformedPolicyError("Statement IDs (SID) must be strings.")
    assert actions is not None
    return Statement(
        Effect(effect),
        actions,
        not_actions,
        resources,
        not_resources,
        principals,
        not_principals,
        _conditions(raw.get("Condition")),
        sid,
    )


def _either(
    raw: Mapping[str, Any], name: str, negated: str, *, required: bool
) -> tuple[tuple[str, ...] | None, bool]:
    if name in raw and negated in raw:
        raise MalformedPolicyError(f"Statement cannot have both {name} and {negated}.")
    if name not in raw and negated not in raw:
        if required:
            raise MalformedPolicyError(f"Policy statement must contain {name.lower()}s.")
        return None, False
    element = negated if negated in raw else name
    return _string_list(raw[element], element), element == negated


def _string_list(value: Any, element: str) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(item, str) and item for item in items):
        raise MalformedPolicyError(f"{element} must be a string or a list of strings.")
    return tuple(items)


def _principal_element(
    raw: Mapping[str, Any],
) -> tuple[Mapping[str, tuple[str, ...]] | None, bool]:
    if "Principal" in raw and "NotPrincipal" in raw:
        raise MalformedPolicyError("Statement cannot have both Principal and NotPrincipal.")
    element = "NotPrincipal" if "NotPrincipal" in raw else "Principal"
    value = raw.get(element)
    if value is None:
        return None, False
    if value == "*":
        return {"*": ("*",)}, element == "NotPrincipal"
    if not isinstance(value, dict) or not value:
        raise MalformedPolicyError("Invalid principal in policy.")
    principals = {}
    for kind, ids in value.items():
        if kind not in ("AWS", "Service", "Federated", "CanonicalUser"):
            raise MalformedPolicyError(f"Invalid principal in policy: {kind}")
        principals[kind] = _string_list(ids, "Principal")
    return principals, element == "NotPrincipal"


def _conditions(raw: Any) -> tuple[Condition, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        raise MalformedPolicyError("Syntax errors in policy.")
    conditions = []
    for operator, block in raw.items():
        _check_operator(operator)
        if not isinstance(block, dict) or not block:
            raise MalformedPolicyError(f"Condition operator {operator} needs a key and values.")
        for key, values in block.items():
            items = values if isinstance(values, list) else [values]
            if not all(isinstance(v, str | bool | int | float) for v in items):
                raise MalformedPolicyError(f"Invalid values for condition key {key}.")
            conditions.append(Condition(operator, key, tuple(_text(v) for v in items)))
    return tuple(conditions)


def _text(value: str | bool | float) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# -- matching ---------------------------------------------------------------------------------


_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_SPECIAL = {"*": "*", "?": "?", "$": "$"}


class _Unresolved(Exception):
    """A policy variable whose key the request lacks (and no default): the string it is in
    matches nothing."""


def substitute(text: str, request: Request) -> str:
    """Policy variables replaced: `${aws:username}`, `${aws:PrincipalTag/x, 'default'}`, and
    the escapes `${*}`, `${?}`, `${$}` (a literal *, ? or $: ACM's `"${*}.*"` example matches
    the names that start with '*.', the wildcard names)."""

    def replace(match: re.Match[str]) -> str:
        inner = match.group(1)
        if inner in _SPECIAL:
            return _ESCAPED[inner]
        key, _, default = inner.partition(",")
        value = request.value(key.strip())
        if isinstance(value, str):
            return _escape_literal(value)
        default = default.strip()
        if default.startswith("'") and default.endswith("'") and len(default) >= 2:
            return _escape_literal(default[1:-1])
        raise _Unresolved(key)

    return _VARIABLE.sub(replace, text)


# A variable's value and an escape stand for literal characters, not wildcards; they are kept
# as private-use characters until matching, where they match themselves only.
_ESCAPED = {"*": "\ue000", "?": "\ue001", "$": "$"}
_UNESCAPE = {"\ue000": "*", "\ue001": "?"}


def _escape_literal(value: str) -> str:
    return value.replace("*", _ESCAPED["*"]).replace("?", _ESCAPED["?"])


def _literal(text: str) -> str:
    for marker, char in _UNESCAPE.items():
        text = text.replace(marker, char)
    return text


_ANY_RUN, _ANY_ONE = 0, 1  # `*` and `?` of a pattern, as tokens


@lru_cache(maxsize=4096)
def _tokens(pattern: str, ignore_case: bool) -> tuple[str | int, ...]:
    """A wildcard pattern as tokens: its characters (escaped ones, from `${*}` or variables,
    literal) and the two wildcards."""
    tokens: list[str | int] = []
    for char in pattern:
        if char == "*":
            if not tokens or tokens[-1] != _ANY_RUN:  # a run of stars is one star
                tokens.append(_ANY_RUN)
        elif char == "?":
            tokens.append(_ANY_ONE)
        else:
            literal = _UNESCAPE.get(char, char)
            tokens.append(literal.lower() if ignore_case else literal)
    return tuple(tokens)


def _like(pattern: str, value: str, ignore_case: bool = False) -> bool:
    """Whether `value` matches the wildcard pattern: the greedy two-pointer match, in at
    most len(pattern) * len(value) steps whatever the pattern (no regular expression that
    could backtrack without end on a pattern such as `*a*a*a*a*b`)."""
    tokens = _tokens(pattern, ignore_case)
    text = value.lower() if ignore_case else value
    p = t = 0
    star, mark = -1, 0
    while t < len(text):
        if p < len(tokens) and (tokens[p] == _ANY_ONE or tokens[p] == text[t]):
            p, t = p + 1, t + 1
        elif p < len(tokens) and tokens[p] == _ANY_RUN:
            star, mark = p, t
            p += 1
        elif star >= 0:
            p, mark = star + 1, mark + 1
            t = mark
        else:
            return False
    while p < len(tokens) and tokens[p] == _ANY_RUN:
        p += 1
    return p == len(tokens)


def action_matches(pattern: str, action: str) -> bool:
    return _like(pattern, action, ignore_case=True)


def _resource_matches(pattern: str, resource: str, request: Request) -> bool:
    try:
        substituted = substitute(pattern, request)
    except _Unresolved:
        return False
    if substituted == "*":
        return True
    return _like(substituted, resource)


# -- condition operators ----------------------------------------------------------------------

Comparer = Callable[[str, str], bool]


def _string_equals(expected: str, actual: str) -> bool:
    return _literal(expected) == actual


def _string_equals_ignore_case(expected: str, actual: str) -> bool:
    return _literal(expected).casefold() == actual.casefold()


def _arn_like(pattern: str, actual: str) -> bool:
    # ARNs compare part by part: a wildcard never crosses a colon of the first five.
    expected_parts = pattern.split(":", 5)
    actual_parts = actual.split(":", 5)
    if len(expected_parts) != 6 or len(actual_parts) != 6:
        return False
    return all(_like(e, a) for e, a in zip(expected_parts, actual_parts, strict=True))


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _numeric(compare: Callable[[float, float], bool]) -> Comparer:
    def check(expected: str, actual: str) -> bool:
        e, a = _number(expected), _number(actual)
        return e is not None and a is not None and compare(a, e)

    return check


def parse_date(text: str) -> float | None:
    """ISO 8601 (date, or date and time with a zone or Z) or epoch seconds."""
    text = text.strip()
    if re.fullmatch(r"-?\d+(\.\d+)?", text):
        return float(text)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _date(compare: Callable[[float, float], bool]) -> Comparer:
    def check(expected: str, actual: str) -> bool:
        e, a = parse_date(expected), parse_date(actual)
        return e is not None and a is not None and compare(a, e)

    return check


def _bool_equals(expected: str, actual: str) -> bool:
    return expected.lower() == actual.lower()


def _ip_in(expected: str, actual: str) -> bool:
    try:
        network = ipaddress.ip_network(expected.strip(), strict=False)
        address = ipaddress.ip_address(actual.strip())
    except ValueError:
        return False
    return address.version == network.version and address in network


# Operator name (lower case) -> (comparer, negated). A negated operator matches when no
# condition value matches.
_OPERATORS: dict[str, tuple[Comparer, bool]] = {
    "stringequals": (_string_equals, False),
    "stringnotequals": (_string_equals, True),
    "stringequalsignorecase": (_string_equals_ignore_case, False),
    "stringnotequalsignorecase": (_string_equals_ignore_case, True),
    "stringlike": (lambda e, a: _like(e, a), False),
    "stringnotlike": (lambda e, a: _like(e, a), True),
    "arnequals": (_arn_like, False),
    "arnlike": (_arn_like, False),
    "arnnotequals": (_arn_like, True),
    "arnnotlike": (_arn_like, True),
    "numericequals": (_numeric(lambda a, e: a == e), False),
    "numericnotequals": (_numeric(lambda a, e: a == e), True),
    "numericlessthan": (_numeric(lambda a, e: a < e), False),
    "numericlessthanequals": (_numeric(lambda a, e: a <= e), False),
    "numericgreaterthan": (_numeric(lambda a, e: a > e), False),
    "numericgreaterthanequals": (_numeric(lambda a, e: a >= e), False),
    "dateequals": (_date(lambda a, e: a == e), False),
    "datenotequals": (_date(lambda a, e: a == e), True),
    "datelessthan": (_date(lambda a, e: a < e), False),
    "datelessthanequals": (_date(lambda a, e: a <= e), False),
    "dategreaterthan": (_date(lambda a, e: a > e), False),
    "dategreaterthanequals": (_date(lambda a, e: a >= e), False),
    "bool": (_bool_equals, False),
    "ipaddress": (_ip_in, False),
    "notipaddress": (_ip_in, True),
}
# Operators whose condition values may hold policy variables.
_SUBSTITUTING = ("string", "arn")


def _split_operator(operator: str) -> tuple[str | None, str, bool]:
    """(set qualifier or None, base operator, if-exists) of an operator name."""
    qualifier = None
    name = operator
    if ":" in operator:
        qualifier, name = operator.split(":", 1)
        if qualifier.lower() not in ("foranyvalue", "forallvalues"):
            raise MalformedPolicyError(f"Invalid condition operator {operator}.")
        qualifier = qualifier.lower()
    if_exists = name.lower().endswith("ifexists") and name.lower() != "null"
    base = name[: -len("IfExists")] if if_exists else name
    return qualifier, base.lower(), if_exists


def _check_operator(operator: str) -> None:
    if not isinstance(operator, str):
        raise MalformedPolicyError("Invalid condition operator.")
    qualifier, base, _ = _split_operator(operator)
    if base == "null":
        if qualifier is not None:
            raise MalformedPolicyError(f"Invalid condition operator {operator}.")
        return
    if base not in _OPERATORS:
        raise MalformedPolicyError(f"Invalid condition operator {operator}.")


def _values_of(value: ContextValue) -> tuple[str, ...] | None:
    """The key's values, or None when the request does not carry it."""
    if value is None:
        return None
    if isinstance(value, str):
        return (value,)
    return tuple(value) if value else None


def condition_holds(condition: Condition, request: Request) -> bool:
    qualifier, base, if_exists = _split_operator(condition.operator)
    actual = _values_of(request.value(condition.key))
    if base == "null":
        wants_absent = any(v.lower() == "true" for v in condition.values)
        return (actual is None) == wants_absent
    if actual is None:
        if if_exists or qualifier == "forallvalues":
            return True
        if qualifier == "foranyvalue":
            return False
        return _OPERATORS[base][1]  # a negated operator holds for a key that is absent
    compare, negated = _OPERATORS[base]
    expected = _expected_values(condition.values, base, request)

    def matches_one(value: str) -> bool:
        return any(compare(e, value) for e in expected)

    if qualifier == "forallvalues":
        return all(matches_one(v) != negated for v in actual)
    if qualifier == "foranyvalue":
        return any(matches_one(v) != negated for v in actual)
    hit = any(matches_one(v) for v in actual)
    return not hit if negated else hit


def _expected_values(values: Iterable[str], base: str, request: Request) -> list[str]:
    if not base.startswith(_SUBSTITUTING):
        return list(values)
    expected = []
    for value in values:
        try:
            expected.append(substitute(value, request))
        except _Unresolved:
            continue  # a value naming a key the request lacks matches nothing
    return expected


# -- evaluation -------------------------------------------------------------------------------


def _principal_matches(statement: Statement, request: Request) -> bool:
    principals = statement.principals
    if principals is None:
        return True
    hit = False
    for kind, ids in principals.items():
        if kind == "*":
            hit = True
        elif kind == "AWS":
            hit = hit or "*" in ids or bool(request.principal_ids & set(ids))
        elif kind == "Service":
            hit = hit or request.service_principal in ids
    return hit != statement.not_principals


def statement_applies(statement: Statement, request: Request) -> bool:
    action_hit = any(action_matches(p, request.action) for p in statement.actions)
    if action_hit == statement.not_actions:
        return False
    if statement.resources is not None:
        resource_hit = any(
            _resource_matches(p, request.resource, request) for p in statement.resources
        )
        if resource_hit == statement.not_resources:
            return False
    if not _principal_matches(statement, request):
        return False
    return all(condition_holds(c, request) for c in statement.conditions)


def evaluate(policies: Iterable[Policy], request: Request) -> Decision:
    """AWS's logic over a set of policies of one kind: explicit deny wins, then allow, else
    implicit deny."""
    allowed = False
    for policy in policies:
        for statement in policy.statements:
            if not statement_applies(statement, request):
                continue
            if statement.effect is Effect.DENY:
                return Decision.EXPLICIT_DENY
            allowed = True
    return Decision.ALLOW if allowed else Decision.IMPLICIT_DENY


# -- the answer -------------------------------------------------------------------------------


class PolicyKind(enum.Enum):
    IDENTITY = "an identity-based policy"
    SESSION = "a session policy"
    RESOURCE = "a resource-based policy"


@dataclass(frozen=True)
class Refusal:
    """Why a request was refused: the policy kind that denied it, explicitly or not."""

    kind: PolicyKind
    explicit: bool

    def message(self, principal_arn: str, action: str, resource: str) -> str:
        """AWS's AccessDenied message for it."""
        head = f"User: {principal_arn} is not authorized to perform: {action}"
        if resource != "*":  # actions on no particular resource name none
            head = f"{head} on resource: {resource}"
        if self.explicit:
            return f"{head} with an explicit deny in {self.kind.value}"
        plain = self.kind.value.removeprefix("an ").removeprefix("a ")
        return f"{head} because no {plain} allows the {action} action"


# Another account's resource that has no resource-based policy (an ACM certificate, an ACME
# endpoint): nothing can allow the call, whatever the caller's own policies say.
NO_RESOURCE_POLICY = Refusal(PolicyKind.RESOURCE, explicit=False)


def authorize(
    request: Request,
    identity: Sequence[Policy] | None,
    *,
    session: Sequence[Policy] | None = None,
    resource: Sequence[Policy] | None = None,
    same_account: bool = True,
) -> Refusal | None:
    """None when the request is allowed, else why not.

    `identity` None is the account's root principal (no policy restricts it). `session` is
    the session policies of an assumed-role session, if it was given any. `resource` is the
    target's resource-based policy, if any: in the target's own account an Allow in either
    the identity or the resource policy suffices; across accounts both must allow."""
    kinds: list[tuple[PolicyKind, Sequence[Policy] | None]] = [
        (PolicyKind.IDENTITY, identity),
        (PolicyKind.SESSION, session),
        (PolicyKind.RESOURCE, resource),
    ]
    decisions = {
        kind: evaluate(policies, request) for kind, policies in kinds if policies is not None
    }
    for kind, decision in decisions.items():
        if decision is Decision.EXPLICIT_DENY:
            return Refusal(kind, explicit=True)
    resource_allows = decisions.get(PolicyKind.RESOURCE) is Decision.ALLOW
    identity_decision = decisions.get(PolicyKind.IDENTITY, Decision.ALLOW)
    if identity_decision is not Decision.ALLOW and not (same_account and resource_allows):
        return Refusal(PolicyKind.IDENTITY, explicit=False)
    if decisions.get(PolicyKind.SESSION, Decision.ALLOW) is not Decision.ALLOW:
        return Refusal(PolicyKind.SESSION, explicit=False)
    if not same_account and not resource_allows:
        return Refusal(PolicyKind.RESOURCE, explicit=False)
    return None
