"""Work that outlives a session: a form sent after the session ended is kept, and comes back after logging in.

A seller half-way through a product, an operator counting coins, a buyer who typed a quantity: when their
session has ended (it expired, or was ended from another device), the form they send cannot be carried out.
Its fields are kept, the login page brings them back to the form's page, and that page's form is filled in
again from them, once.

Why this is safe:
- The fields are kept in the Flask session cookie, which is signed: only this browser carries them, and no one
  can forge or change them without the secret key.
- They are kept only from a POST that passed the CSRF check (CSRFProtect runs before every view, this included),
  so another site cannot plant values in someone's forms.
- They belong to the account the browser was signed in to: the user id of the signed cookie, noted when a
  request finds that account's session ended (`session_ended`). Logging in as any other account drops them,
  and a visitor whose account is not known has nothing kept. So they never show in another account's pages.
- They go back only into the form that sent them: the view that posted them (same endpoint and URL arguments,
  such as the product id) and only the fields its form class declares; once, within KEEP_SECONDS. That view
  still checks, as on any visit, that the account may see the page (a seller's own product).
- Never a password, a token (the CSRF token included) or a file: fields named like one are left out, and
  multipart bodies (uploads) are not read. A cookie over the browsers' 4 KB limit would be dropped and sign the
  user out, so the kept fields are bounded (MAX_FIELDS, MAX_VALUE, MAX_BYTES); a larger form is not kept.
"""

import json
import re
import time

from flask import flash, request, session
from flask_login import current_user
from werkzeug.datastructures import MultiDict

KEPT_KEY = "kept_form"
ENDED_USER_KEY = "ended_user"
KEEP_SECONDS = 3600
MAX_FIELDS = 24
MAX_VALUE = 256
MAX_BYTES = 1536
NEVER_KEPT = re.compile(r"password|passwd|secret|token|csrf|confirm", re.IGNORECASE)
FORM_BODY = "application/x-www-form-urlencoded"
RESTORED = "Your session had ended before this was sent: what you typed is back. Check it and send it again."


def session_ended(user_id: int) -> None:
    """A request found the session of `user_id` ended: what this browser sends next may be kept for that account."""
    session[ENDED_USER_KEY] = user_id


def ended_user() -> int | None:
    """The account whose session this browser found ended (and has not logged in again since), or None."""
    return session.get(ENDED_USER_KEY)


def forget() -> None:
    """A deliberate log-out: nothing is kept."""
    session.pop(KEPT_KEY, None)
    session.pop(ENDED_USER_KEY, None)


def keep_form() -> bool:
    """Keep the fields this POST sent, for the account whose session ended; True when kept."""
    owner = ended_user()
    if owner is None or request.mimetype != FORM_BODY:
        return False
    fields = {}
    for name in request.form:
        if NEVER_KEPT.search(name) or name == "submit":
            continue
        values = request.form.getlist(name)
        if len(fields) == MAX_FIELDS or any(len(value) > MAX_VALUE for value in values):
            return False
        fields[name] = values
    record = {"user": owner, "endpoint": request.endpoint, "args": request.view_args or {}, "fields": fields,
              "at": int(time.time())}
    if not fields or len(json.dumps(record)) > MAX_BYTES:
        return False
    session[KEPT_KEY] = record
    return True


def _fresh(record: dict) -> bool:
    return 0 <= time.time() - record["at"] <= KEEP_SECONDS


def carried_over(user_id: int) -> dict | None:
    """At login, before the session is renewed: the kept fields if they are this account's, to put back after."""
    record = session.get(KEPT_KEY)
    return record if record and record["user"] == user_id and _fresh(record) else None


def put_back(record: dict | None) -> None:
    if record is not None:
        session[KEPT_KEY] = record


def take(endpoint: str, **view_args) -> MultiDict | None:
    """The fields kept for the form that posts to `endpoint` with these URL arguments, for the signed-in account
    that typed them, once; None when there are none (or on anything but a visit of the page)."""
    record = session.get(KEPT_KEY)
    if record is None or request.method != "GET" or not current_user.is_authenticated:
        return None
    if record["user"] != current_user.id or not _fresh(record):
        session.pop(KEPT_KEY)
        return None
    if record["endpoint"] != endpoint or record["args"] != view_args:
        return None
    session.pop(KEPT_KEY)
    flash(RESTORED, "info")
    return MultiDict([(name, value) for name, values in record["fields"].items() for value in values])


def restore(form, endpoint: str, *, obj=None, **view_args) -> bool:
    """Fill `form` (the form that posts to `endpoint`) with the fields kept for it, if any; True when filled."""
    kept = take(endpoint, **view_args)
    if kept is None:
        return False
    form.process(formdata=kept, obj=obj)
    return True
