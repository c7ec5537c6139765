"""The reader's locale and time zone for the pages (Flask-Babel's selectors), and where the browser says its zone.

The locale comes from Accept-Language, matched against the locales Babel has data for; the pages' words stay
English, only numbers, money and dates follow it. The time zone is the browser's own
(Intl.DateTimeFormat().resolvedOptions().timeZone), which app.js puts in a hidden field of the login and
registration forms; the session keeps it when it names a zone of the database Flask-Babel converts with (pytz's).
Without one (no JavaScript, an unknown name), times are in UTC. The API and the CSV exports use neither: UTC.

Why a form field and not a request of its own: the session is a signed cookie, so a request that writes it while
another is under way (a coin pressed as the page loads) would put back the session as it was, dropping what the
other wrote. The login is the one moment the session is written anyway.
"""

import functools

import pytz
from babel.localedata import locale_identifiers
from flask import request, session

from app.home.auth import TIME_ZONE_KEY

DEFAULT_LOCALE = "en"
# Accept-Language is the client's to write: only its first few entries are read, each looked up once.
MAX_LANGUAGES = 8


@functools.cache
def known_locales() -> dict[str, str]:
    """Babel's locale identifiers by their lower-case form: {"de_de": "de_DE", "de": "de", ...}."""
    return {identifier.lower(): identifier for identifier in locale_identifiers()}


def select_locale() -> str:
    """The first language of Accept-Language (in its order of preference) that Babel knows, or its primary
    language ("de" for an unknown "de-XX"), else English."""
    known = known_locales()
    for tag, quality in list(request.accept_languages)[:MAX_LANGUAGES]:
        if quality <= 0:
            continue
        key = tag.replace("-", "_").lower()
        match = known.get(key) or known.get(key.partition("_")[0])
        if match:
            return match
    return DEFAULT_LOCALE


def is_time_zone(name: object) -> bool:
    return isinstance(name, str) and name in pytz.all_timezones_set


def select_time_zone() -> str | None:
    """The zone the browser gave for this session, or None for UTC."""
    name = session.get(TIME_ZONE_KEY)
    return name if is_time_zone(name) else None


def remember_time_zone(name: str | None) -> bool:
    """Keep the browser's zone in the session; False (and nothing kept) for a name the zone database lacks."""
    if not is_time_zone(name):
        return False
    session[TIME_ZONE_KEY] = name
    return True

