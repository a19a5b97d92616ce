"""The app under Streamlit's AppTest: one way to open a page (signed in or not) and read it as shown."""

from __future__ import annotations

import re
import time
from typing import Any

from streamlit.testing.v1 import AppTest

from tests.conftest import APP

REVIEW = "pages/2_Review.py"
HISTORY = "pages/3_History.py"
RETRAIN = "pages/1_Retrain.py"
#: An OpenID Connect provider nobody starts: AppTest's ``st.user`` stands in for the sign-in.
ISSUER = "http://127.0.0.1:5556"
AUTH = {
    "redirect_uri": "http://127.0.0.1:8501/oauth2callback", "cookie_secret": "0" * 64, "client_id": "c",
    "client_secret": "s", "server_metadata_url": f"{ISSUER}/.well-known/openid-configuration",
}


def user(email: str, **claims: Any) -> dict[str, Any]:
    """``st.user`` of a person signed in just now with a verified email."""
    now = int(time.time())
    return {"is_logged_in": True, "iss": ISSUER, "sub": f"sub-{email}", "email": email, "name": email,
            "email_verified": True, "iat": now, "auth_time": now, **claims}


def open_app(page: str | None = None, *, signed_in: dict[str, Any] | None = None, team: bool | None = None,
             **query: str) -> AppTest:
    """Run the app, then switch to ``page`` with ``query`` in the URL.

    Team mode (sign-in configured) when ``team`` is true, or when ``signed_in`` is given and
    ``team`` is not said; ``signed_in`` is who is signed in (nobody when None).
    """
    at = AppTest.from_file(str(APP), default_timeout=60)
    if team or (team is None and signed_in is not None):
        at.secrets["auth"] = AUTH
        at.user = signed_in or {"is_logged_in": False}  # type: ignore[assignment]
    at.run()
    assert not at.exception, at.exception
    if page is not None:
        at.query_params.clear()
        at.query_params.update(query)
        at.switch_page(page).run()
        assert not at.exception, at.exception
    return at


def shown(markdown: str) -> str:
    """Markdown source as the reader sees it (backslash escapes removed)."""
    return re.sub(r"\\(.)", r"\1", markdown)


def texts(elements: Any) -> list[str]:
    """The elements' text as shown (escapes removed)."""
    return [shown(e.value) for e in elements]
