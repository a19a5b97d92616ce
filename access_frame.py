"""Sign-in for the team mode, for ``app.py`` and every page (called by ``page_frame``).

Two modes, chosen by configuration: with an ``[auth]`` section in the Streamlit secrets
(``.streamlit/secrets.toml``, see the ``.example`` beside it) the console is a team
console and every page requires sign-in through Streamlit's own ``st.login`` (OpenID
Connect); without it, it is the local console (no sign-in, the approver is typed).

Deep links survive the sign-in: Streamlit's callback always returns to the home page,
so a page opened signed out (``Review?run=…``) remembers itself in a short-lived cookie
of the browser, and the home page, once signed in, switches back to it (only to the
pages listed in :data:`DEEP_LINK_PAGES`: never an arbitrary address).
"""

from __future__ import annotations

import json
from typing import Final
from urllib.parse import parse_qsl, quote, unquote, urlencode

import streamlit as st

from taskclf_core.access.identity import Identity, IdentityError, oidc_identity
from taskclf_core.access.policy import AccessDenied
from taskclf_core.console.access import Access, session_access
from taskclf_core.paths import Home

NEXT_COOKIE: Final = "taskclf_next"
#: Pages a sign-in may return to (title -> script); the home page needs no cookie.
DEEP_LINK_PAGES: Final = {"Retrain": "pages/1_Retrain.py", "Review": "pages/2_Review.py", "History": "pages/3_History.py"}
_ACCESS_KEY: Final = "_taskclf_access"
_RESUMED_KEY: Final = "_taskclf_resumed"


def team_mode() -> bool:
    """Whether sign-in is configured (an ``[auth]`` section in the secrets)."""
    try:
        return "auth" in st.secrets and bool(st.secrets["auth"])
    except Exception:  # no secrets file at all: local mode
        return False


def _cookie(value: str, max_age: int) -> None:
    st.html(
        f"<script>document.cookie='{NEXT_COOKIE}='+{json.dumps(value)}+'; path=/; max-age={max_age}; "
        "SameSite=Lax'</script>",
        unsafe_allow_javascript=True,
    )


def _remember_page(title: str) -> None:
    if title in DEEP_LINK_PAGES:
        target = title + "?" + urlencode(st.query_params.to_dict())
        _cookie(quote(target, safe=""), 600)


def _resume_deep_link() -> None:
    raw = dict(st.context.cookies).get(NEXT_COOKIE)
    if not raw or st.session_state.get(_RESUMED_KEY):
        return
    st.session_state[_RESUMED_KEY] = True
    title, _, query = unquote(raw).partition("?")
    if title in DEEP_LINK_PAGES:
        st.switch_page(DEEP_LINK_PAGES[title], query_params=dict(parse_qsl(query)))


def _sign_in_screen(title: str) -> None:
    _remember_page(title)
    st.title(title)
    st.info(
        "This retrain console is shared by a team: sign in to continue. After signing in you "
        "return to the page you asked for.",
        icon=":material/lock:",
    )
    if st.button("Sign in", type="primary", key="access_sign_in"):
        st.login()
    st.stop()


def gate(title: str, home: Home) -> Access:
    """Require sign-in in team mode (else stop with the sign-in screen); return who acts.

    In team mode, once signed in: returns to a remembered deep link (home page), shows
    the person, their roles and "Sign out" in the sidebar. In local mode: says so.
    """
    team = team_mode()
    identity: Identity | None = None
    if team:
        info = st.user.to_dict()
        if info.get("is_logged_in") is not True:
            _sign_in_screen(title)
        try:
            identity = oidc_identity(info)
        except IdentityError as exc:
            st.error(f"Signed in, but the identity cannot be used: {exc}")
            st.stop()
        if title == "Status":
            _resume_deep_link()
        elif dict(st.context.cookies).get(NEXT_COOKIE):
            _cookie("", 0)  # arrived: forget the deep link
    access = session_access(home, team=team, identity=identity)
    st.session_state[_ACCESS_KEY] = access
    with st.sidebar:
        if identity is not None:
            st.caption(f"Signed in as **{identity.name}** ({access.roles()})")
            if st.button("Sign out", key="access_sign_out"):
                st.logout()
        else:
            st.caption("Local mode: no sign-in; approvals are recorded as *local, not authenticated*.")
        if access.problem:
            st.warning(access.problem)
    return access


def current_access() -> Access:
    """The :class:`Access` the frame computed for this run of the page."""
    access = st.session_state.get(_ACCESS_KEY)
    if isinstance(access, Access):
        return access
    return session_access(Home.resolve(), team=team_mode(), identity=None)


def actor() -> Identity | None:
    """Who acts, for the core calls: the signed-in person (team mode), or None in local mode
    (the core then records the typed approver as "local, not authenticated")."""
    access = current_access()
    if access.team and access.identity is None:  # never a typed name once sign-in is configured
        raise AccessDenied("sign in first: this console is shared by a team and records who acts")
    return access.identity
