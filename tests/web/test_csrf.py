"""CSRF protection covers every form-posting route; the API (bearer tokens, no cookies) is exempt."""

import re

import pytest

from app.home import bp as web_pages

WRITES = {"POST", "PUT", "PATCH", "DELETE"}


def test_every_route_that_takes_a_form_is_a_web_page_so_the_csrf_check_runs_for_it(app):
    """The CSRF check runs for the web pages' blueprint only (app.web_pages_only): any other route that
    takes a write outside the API would go unchecked, so there must be none."""
    for rule in app.url_map.iter_rules():
        if rule.methods & WRITES and not rule.rule.startswith("/api/"):
            assert rule.endpoint.startswith(web_pages.name + "."), rule


@pytest.mark.parametrize("app_config", [{"WTF_CSRF_ENABLED": True}])
def test_with_csrf_on_a_form_post_needs_the_token_and_the_api_does_not(app, client, buyer):
    refused = client.post("/login", data={"username": buyer.username, "password": buyer.password})
    assert refused.status_code == 400
    assert "The form has expired or did not come from this site" in refused.get_data(as_text=True)
    assert client.get("/machine").status_code == 302  # not signed in: the refused form changed nothing

    page = client.get("/login")
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    signed_in = client.post("/login", data={"username": buyer.username, "password": buyer.password,
                                            "csrf_token": token})
    assert signed_in.status_code == 302
    assert client.get("/machine").status_code == 200

    deposit = client.post("/api/v1/deposit", json={"coin": 50}, headers=buyer.headers)
    assert (deposit.status_code, deposit.json["deposit"]) == (200, 50)
