"""Sign-in for the team mode, for ``app.py`` and every page (called by ``page_frame``).

Two modes, chosen by configuration: with an ``[auth]`` section in the Streamlit secrets
(``.streamlit/secrets.toml``, see the ``.example`` beside it) the console is a team
console and every page requires sign-in through Streamlit's own ``st.login`` (OpenID
Connect); without it, it is the local console (no sign-in, the approver is typed).

Who is signed in is decided in the core (``access.identity.oidc_identity``: the verified
email, normalized); a sign-in without a verified email is refused on the page and in one
line of the server log. Sessions end (``console.sessions``): "Sign out" ends every
session of that person, and a sign-in older than ``access.session_hours`` is over; an
ended session sees the sign-in screen, whatever its cookie says.

Deep links survive the sign-in: Streamlit's callback always returns to the home page,
so a page opened signed out (``Review?run=…``) remembers itself in a short-lived cookie
of the browser, and the home page, once signed in, switches back to it (only to the
pages listed in :data:`DEEP_LINK_PAGES`, with only the query parameters in
:data:`DEEP_LINK_PARAMS`: never an arbitrary address or Streamlit's own ``embed``).
"""

from __future__ import annotations

import json
import logging
from typing import Final
from urllib.parse import parse_qsl, quote, unquote, urlencode

import streamlit as st

from taskclf_core.access.identity import Identity, oidc_identity
from taskclf_core.console.access import Access, session_access
from taskclf_core.console.formatting import PAGES
from taskclf_core.console.sessions import record_sign_out, session_problem
from taskclf_core.errors import AccessDenied, IdentityError, TaskclfError
from taskclf_core.paths import Home

NEXT_COOKIE: Final = "taskclf_next"
#: Pages a sign-in may return to (title -> script); the home page needs no cookie.
DEEP_LINK_PAGES: Final = {title: script for script, title, _ in PAGES[1:]}
#: The query parameters a deep link may carry (what the pages read); any other is dropped.
DEEP_LINK_PARAMS: Final = ("run", "page", "tab", "outcome", "job")
#: The ``[auth.<name>]`` provider asked for a fresh sign-in (``client_kwargs = {prompt = "login"}``).
REAUTH_PROVIDER: Final = "reauth"
_MAX_PARAM_CHARS: Final = 200
_ACCESS_KEY: Final = "_taskclf_access"
_RESUMED_KEY: Final = "_taskclf_resumed"
_LOGGED_KEY: Final = "_taskclf_refusal_logged"
_LOG = logging.getLogger("taskclf.access")


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


def deep_link_params(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """Only the known query parameters (:data:`DEEP_LINK_PARAMS`), each once and short."""
    kept: dict[str, str] = {}
    for key, value in pairs:
        if key in DEEP_LINK_PARAMS and key not in kept and len(value) <= _MAX_PARAM_CHARS and value.isprintable():
            kept[key] = value
    return kept


def deep_link_target(raw: str) -> tuple[str, dict[str, str]] | None:
    """The page script and query a remembered deep link returns to, or None (unknown page)."""
    title, _, query = unquote(raw).partition("?")
    if title not in DEEP_LINK_PAGES:
        return None
    return DEEP_LINK_PAGES[title], deep_link_params(parse_qsl(query))


def _remember_page(title: str) -> None:
    if title in DEEP_LINK_PAGES:
        params = deep_link_params([(k, v) for k in st.query_params for v in st.query_params.get_all(k)])
        _cookie(quote(title + "?" + urlencode(params), safe=""), 600)


def _resume_deep_link() -> None:
    raw = dict(st.context.cookies).get(NEXT_COOKIE)
    if not raw or st.session_state.get(_RESUMED_KEY):
        return
    st.session_state[_RESUMED_KEY] = True
    target = deep_link_target(raw)
    if target is not None:
        st.switch_page(target[0], query_params=target[1])


def _sign_in_screen(title: str, ended: str | None = None) -> None:
    _remember_page(title)
    st.title(title)
    if ended:
        st.warning(f"Your session has ended: {ended}.", icon=":material/logout:")
    st.info(
        "This retrain console is shared by a team: sign in to continue. After signing in you "
        "return to the page you asked for.",
        icon=":material/lock:",
    )
    if st.button("Sign in", type="primary", key="access_sign_in"):
        st.login()
    st.stop()


def _refuse_identity(exc: IdentityError) -> None:
    """A sign-in that cannot be used (no verified email): say so, log one line, offer sign-out."""
    if not st.session_state.get(_LOGGED_KEY):
        st.session_state[_LOGGED_KEY] = True
        _LOG.warning("sign-in refused: %s", " ".join(str(exc).split()))
    st.error(f"Signed in, but this sign-in cannot be used, so it holds no role: {exc}")
    if st.button("Sign out", key="access_sign_out_refused"):
        st.logout()
    st.stop()


def gate(title: str, home: Home) -> Access:
    """Require a live sign-in in team mode (else stop with the sign-in screen); return who acts.

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
            _refuse_identity(exc)
    access = session_access(home, team=team, identity=identity)
    if identity is not None:
        ended = session_problem(home, identity, access.policy)
        if ended is not None:
            _sign_in_screen(title, ended)
        if title == "Status":
            _resume_deep_link()
        elif dict(st.context.cookies).get(NEXT_COOKIE):
            _cookie("", 0)  # arrived: forget the deep link
    st.session_state[_ACCESS_KEY] = access
    with st.sidebar:
        if identity is not None:
            st.caption(f"Signed in as **{identity.name}** ({access.roles()})")
            if st.button("Sign out", key="access_sign_out"):
                try:
                    record_sign_out(home, identity)  # every session of this person ends, not only this one
                except (OSError, TaskclfError) as exc:
                    st.error(f"Sign-out could not be recorded, so your other sessions would go on: {exc}. Try again.")
                else:
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
    (the core then records the typed approver as "local, not authenticated"). The core
    checks the session again at the action (a dialog's button reruns only the dialog)."""
    access = current_access()
    if access.team and access.identity is None:  # never a typed name once sign-in is configured
        raise AccessDenied("sign in first: this console is shared by a team and records who acts")
    return access.identity


def reauth_provider() -> bool:
    """Whether the secrets configure the ``[auth.reauth]`` provider (``prompt = "login"``)."""
    try:
        return REAUTH_PROVIDER in st.secrets["auth"]
    except Exception:
        return False


def sign_in_again() -> None:
    """Ask the provider for a fresh sign-in (``prompt=login``) before a sign-off.

    Uses the ``[auth.reauth]`` provider of the secrets when there is one (the same
    provider with ``client_kwargs = { prompt = "login" }``), else the default sign-in.
    """
    st.login(REAUTH_PROVIDER if reauth_provider() else None)
