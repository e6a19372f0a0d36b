"""Fixtures for the audit console: signing in through the login form."""

from __future__ import annotations

import re

import pytest

from app.identity.models import Role

CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_from(html: str) -> str:
    """The CSRF token of the first form in a console page."""
    match = CSRF_FIELD.search(html)
    assert match, "no CSRF field in the page"
    return match[1]


def sign_in(client, token: str):
    """Fill in and post the sign-in form; return the answer (not followed)."""
    form = client.get("/console/login")
    assert form.status_code == 200
    return client.post("/console/login", data={"csrf": csrf_from(form.text), "token": token})


@pytest.fixture
def regulator(make_org):
    return make_org(Role.REGULATOR, "Zone Regulator")


@pytest.fixture
def console(client, regulator):
    """A test client signed in to the console as a regulator."""
    answer = sign_in(client, regulator.token)
    assert answer.status_code == 303, answer.text
    return client
