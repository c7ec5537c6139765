"""Device names for the sessions page."""

import pytest

from app.services.devices import UNKNOWN, device_name

CHROME_LINUX = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
                "Chrome/131.0.0.0 Safari/537.36")
SAFARI_IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
                 "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1")
FIREFOX_WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"


@pytest.mark.parametrize(
    ("user_agent", "name"),
    [
        (CHROME_LINUX, "Chrome on Linux"),
        (SAFARI_IPHONE, "Mobile Safari on iOS (iPhone)"),
        (FIREFOX_WINDOWS, "Firefox on Windows"),
        ("python-requests/2.32.3", "Python Requests"),
        ("curl/8.5.0", "curl"),
        ("pytest", UNKNOWN),
        ("", UNKNOWN),
        (None, UNKNOWN),
    ],
)
def test_device_names(user_agent, name):
    assert device_name(user_agent) == name


def test_two_browsers_of_one_person_are_told_apart():
    assert device_name(CHROME_LINUX) != device_name(FIREFOX_WINDOWS)
