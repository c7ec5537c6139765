"""Schemathesis against the app's own OpenAPI document, in-process, as a buyer, a seller and an admin.

Every operation is called with generated valid (positive) and invalid (negative) data; responses
must never be a 5xx, must match the documented status codes, schemas and headers, documented auth
must be enforced and invalid data must be refused. Accounts are re-created and tokens re-issued
before every case, so a case that logs out or deletes its own account does not blind the rest.

Generators rarely draw the values that once were 500s (a NUL, an integer past every column, a day whose next
day cannot be stored, a forged cursor), so a second pass sends each of them in every parameter and body
property of every operation, with schemathesis' checks on each reply.

schemathesis.pytest.from_fixture() needs pytest < 9 (it reads node._nodeid), so the operations are
driven here with operation.as_strategy() and Hypothesis directly.
"""

import base64
import json

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    ignored_auth,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import select

from app.extensions import db
from app.models import User
from app.services import sessions, users
from app.services.audit import run_audit

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    response_schema_conformance,
    response_headers_conformance,
    ignored_auth,
    negative_data_rejection,
]
ROLES = ("buyer", "seller", "admin")
EXAMPLES = {GenerationMode.POSITIVE: 6, GenerationMode.NEGATIVE: 4}


def fresh_token(role: str) -> str:
    """A valid bearer token for the role's account, re-creating the account if a case deleted it."""
    db.session.rollback()
    username = f"fuzz_{role}"
    user_id = db.session.scalar(select(User.id).where(User.username_key == username))
    if user_id is None:
        user_id = users.register(username, "correct-horse-1", role, allow_admin=True).id
    return sessions.open_session(user_id, kind="api", ttl_seconds=3600, idle_seconds=3600,
                                 user_agent="schemathesis", client_address=None).token


def run_operation(operation, mode, role) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES[mode], database=None, deadline=None, suppress_health_check=list(HealthCheck),
              derandomize=False)
    def check(case):
        case.call_and_validate(headers={"Authorization": f"Bearer {fresh_token(role)}"}, checks=CHECKS)

    check()


@pytest.mark.parametrize("role", ROLES)
def test_api_conforms_to_its_openapi_document(app, role):
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    failures = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode in EXAMPLES:
            try:
                run_operation(operation, mode, role)
            except Exception as error:  # collect every operation's failure, then report them all
                failures.append(f"{operation.label} [{mode.value}]: {error}")
    assert operations >= 20
    assert not failures, "\n\n".join(failures)
    report = run_audit()
    assert report.clean, report.render()


# Values a generator rarely or never draws, each refused by the app before any database sees it: NUL
# characters, integers past every column, days whose next day the databases or Python cannot hold, and cursors
# the app never made (an id past 64 bits, a moment before year 1 once in UTC, a naive moment).
def _cursor(*parts) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(parts)).encode()).decode().rstrip("=")


HOSTILE_TEXT = ["\x00", "Cola\x00"]
HOSTILE_QUERY_INTEGERS = ["2147483648", "9223372036854775808", "-9223372036854775809", "99999999999999999999",
                          "9" * 4301]
HOSTILE_BODY_INTEGERS = [2**31, 2**63, -(2**63) - 1, 10**30]
HOSTILE_DAYS = ["9999-12-31", "9999-12-30", "0001-01-01", "1969-12-31"]
HOSTILE_CURSORS = [
    "WyJvbGRlciIsIjIwMjYtMDEtMDFUMDA6MDA6MDAiLDkyMjMzNzIwMzY4NTQ3NzU4MDhd",  # issue 22: id 2**63, naive
    _cursor("older", "2026-01-01T00:00:00+00:00", 2**63),
    _cursor("newer", "0001-01-01T00:00:00+05:00", 1),
    _cursor("older", "9999-12-31T23:00:00-05:00", 1),
]


def hostile_values(schema: dict, name: str) -> list:
    """What to send in a query or path parameter of this OpenAPI schema."""
    if schema.get("type") == "integer":
        return HOSTILE_QUERY_INTEGERS
    if schema.get("format") == "date":
        return HOSTILE_DAYS + HOSTILE_TEXT
    if name == "cursor":
        return HOSTILE_CURSORS + HOSTILE_TEXT
    return HOSTILE_TEXT


def hostile_cases(operation):
    """One case per hostile value of each query and path parameter and each property of the JSON body's
    example, the rest of the request as the document's example (or 1 for an id in the path)."""
    parameters = [p for p in operation.iter_parameters() if p.location.value in ("query", "path")]
    path = {p.name: 1 for p in parameters if p.location.value == "path"}
    content = operation.definition.raw.get("requestBody", {}).get("content", {})
    example = content.get("application/json", {}).get("example")
    body = {"body": dict(example), "media_type": "application/json"} if isinstance(example, dict) else {}
    for parameter in parameters:
        for value in hostile_values(parameter.definition.get("schema", {}), parameter.name):
            if parameter.location.value == "path":
                yield operation.Case(path_parameters={**path, parameter.name: value}, **body)
            else:
                yield operation.Case(path_parameters=path, query={parameter.name: value}, **body)
    for name, good in (example or {}).items() if body else ():
        values = HOSTILE_TEXT if isinstance(good, str) else HOSTILE_BODY_INTEGERS if type(good) is int else []
        for value in values:
            yield operation.Case(path_parameters=path, body={**example, name: value}, media_type="application/json")


@pytest.mark.parametrize("role", ROLES)
def test_hostile_values_in_every_parameter_are_4xx(app, role):
    """Every operation, with each hostile value in each of its parameters and body properties: never a 5xx,
    always a documented reply (a 422 or, for an id in the path, the router's 404)."""
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    failures = []
    cases = 0
    for result in schema.get_all_operations():
        for case in hostile_cases(result.ok()):
            cases += 1
            try:
                case.call_and_validate(headers={"Authorization": f"Bearer {fresh_token(role)}"}, checks=CHECKS)
            except FailureGroup as error:  # collect every case's failure, then report them all
                failures.append(f"{case.operation.label} {case.path_parameters} {case.query} {case.body!r:.120}: "
                                f"{error}")
    assert cases >= 150
    assert not failures, "\n\n".join(failures)
    report = run_audit()
    assert report.clean, report.render()
