"""Schemathesis against the app's own OpenAPI document, in-process, as a buyer, a seller and an admin.

Every operation is called with generated valid (positive) and invalid (negative) data; responses
must never be a 5xx, must match the documented status codes, schemas and headers, documented auth
must be enforced and invalid data must be refused. Accounts are re-created and tokens re-issued
before every case, so a case that logs out or deletes its own account does not blind the rest.

schemathesis.pytest.from_fixture() needs pytest < 9 (it reads node._nodeid), so the operations are
driven here with operation.as_strategy() and Hypothesis directly.
"""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
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
