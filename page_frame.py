"""The frame every page shares: page config, sidebar links, the home, plain-text rendering.

Imported by ``app.py`` and every script in ``pages/`` (Streamlit puts the main script's
folder on ``sys.path``, so this module sits beside ``app.py``). It is one of the three
places that may import streamlit; the core never does.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final

import streamlit as st

from access_frame import current_access, gate, reauth_provider, sign_in_again
from taskclf_core.console.formatting import PAGES, signoff_missing
from taskclf_core.errors import TaskclfError
from taskclf_core.paths import Home
from taskclf_core.registry.signoff import MAX_APPROVER_CHARS, MAX_NOTE_CHARS

STATUS, RETRAIN, REVIEW, HISTORY = (script for script, _, _ in PAGES)

#: Characters Markdown, GitHub's extensions or Streamlit's own (``:red[…]``, ``:emoji:``,
#: ``$math$``, autolinks of ``www.…`` and e-mail addresses) give a meaning to.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~$!(){}:&@.])")


def page_frame(title: str) -> Home:
    """Set the page config, draw the sidebar links and the title; return the home.

    Args:
        title: The page's title (also the browser tab's title).

    Returns:
        The registry home (``TASKCLF_HOME`` or the working folder).
    """
    st.set_page_config(page_title=f"{title} · taskclf retrain console", layout="wide")
    with st.sidebar:
        for script, label, icon in PAGES:
            st.page_link(script, label=label, icon=icon)
    home = Home.resolve()
    gate(title, home)  # team mode: sign-in first, deep link kept (access_frame.py)
    st.title(title)
    return home


def plain(text: object) -> str:
    """Escape Markdown (and HTML) so text from a user, a URL or a file shows as typed.

    Line breaks become spaces so a note cannot start a heading or a list of its own.
    """
    flat = " ".join(str(text).splitlines())
    escaped = _MARKDOWN_SPECIAL.sub(r"\\\1", flat)
    # A leading "-", "+" or "=" could start a list or a heading underline.
    return "\\" + escaped if escaped[:1] in ("-", "+", "=") else escaped


def hide_chart_toolbar() -> None:
    """Hide Streamlit's hover toolbar on charts: the page's own buttons export the same chart.

    Without this a chart shows Streamlit's "Download as PNG" beside ours (a second, different
    PNG: the on-screen view, not the exported chart).
    """
    st.html(
        '<style>div:has(> [data-testid="stVegaLiteChart"]) > [data-testid="stElementToolbar"],'
        ' [data-testid="stElementToolbar"]:has(+ [data-testid="stVegaLiteChart"]) { display: none; }</style>'
    )


def signoff_form(prefix: str, *, verb: str, note_label: str, enabled: bool = True) -> tuple[str, str, bool]:
    """Approver (from the signed-in user when there is one) and note inputs, and the action button.

    Widget keys: ``<prefix>_approver``, ``<prefix>_note``, ``<prefix>_<verb>``. The button stays
    disabled until both fields are filled, so the confirmation never opens with empty ones.

    Returns:
        ``(approver, note, clicked)``.
    """
    if st.session_state.pop(f"{prefix}_clear", False):
        # Set before the widgets exist, so the browser gets the empty values too (popping
        # the keys only resets the server side; the browser would send the old text back).
        st.session_state[f"{prefix}_approver"] = ""
        st.session_state[f"{prefix}_note"] = ""
    person = current_access().identity  # the verified, normalized email (never typed)
    logged_in = person.name if person is not None else None
    if logged_in:
        approver = st.text_input("Approver (signed in)", value=logged_in, disabled=True, key=f"{prefix}_approver_user")
    else:
        approver = st.text_input(
            "Approver (required)", key=f"{prefix}_approver", disabled=not enabled, max_chars=MAX_APPROVER_CHARS
        )
    # max_chars: the browser counts as one types ("12/4000") and stops at the registry's limit.
    note = st.text_area(note_label, key=f"{prefix}_note", disabled=not enabled, max_chars=MAX_NOTE_CHARS)
    missing = signoff_missing(approver, note)
    if enabled and missing:
        st.caption(f"{verb.capitalize()} asks for a confirmation once both are filled. {missing}")
    label = {"promote": "Promote…", "rollback": "Roll back…"}.get(verb, f"{verb.capitalize()}…")
    clicked = st.button(label, type="primary", key=f"{prefix}_{verb}", disabled=not enabled or missing is not None)
    return approver, note, clicked


def signoff_dialog(
    prefix: str, *, verb: str, title: str, summary: str, approver: str, note: str, act: Callable[[], Any],
    reauth: str | None = None,
) -> None:
    """The confirmation of a sign-off action; ``act`` is the page's one core call.

    Open while ``<prefix>_confirm_open`` is set. On success the result is kept in
    ``<prefix>_done`` for the next run, and approver and note are cleared (a next action
    never reuses them); a refusal is shown in the dialog. With ``reauth`` (the sign-in is
    too old for a sign-off) the dialog asks for a fresh sign-in instead of confirming.
    """
    open_key = f"{prefix}_confirm_open"

    def close() -> None:
        st.session_state.pop(open_key, None)

    @st.dialog(title, on_dismiss=close)
    def dialog() -> None:
        st.markdown(summary)
        st.markdown(f"Approver: **{plain(approver)}**  \nNote: {plain(note)}")
        missing = signoff_missing(approver, note)
        if missing:
            st.warning(missing)
        if reauth:
            st.warning(plain(reauth), icon=":material/lock_reset:")
            if not reauth_provider():
                st.caption(
                    "The secrets have no [auth.reauth] provider (client_kwargs prompt = \"login\"): a provider with "
                    "single sign-on may sign you in again without asking, with the old sign-in time."
                )
            if st.button("Sign in again", type="primary", key=f"{prefix}_reauth"):
                sign_in_again()
            return
        yes, no = st.columns(2)
        yes_label = {"promote": "Yes, promote", "rollback": "Yes, roll back"}.get(verb, f"Yes, {verb}")
        if yes.button(yes_label, type="primary", key=f"{prefix}_confirm_{verb}", disabled=missing is not None):
            try:
                result = act()
            except TaskclfError as exc:
                st.error(plain(exc))
            else:
                st.session_state[f"{prefix}_done"] = result
                close()
                st.session_state[f"{prefix}_clear"] = True
                st.rerun()
        if no.button("Cancel", key=f"{prefix}_cancel_{verb}"):
            close()
            st.rerun()

    dialog()


def signoff(
    prefix: str, *, verb: str, subject: str, note_label: str, title: str, summary: str,
    act: Callable[[str, str], Any], enabled: bool = True, reauth: str | None = None,
) -> None:
    """The whole sign-off: form, button, and the confirmation for ``subject`` (run or model id).

    ``act(approver, note)`` is the page's one core call; the dialog belongs to the subject it
    was opened for, so switching the target closes it. ``summary`` is the core's sentence of
    what confirming does (``SignoffPlan.confirmation``); ``reauth`` why a fresh sign-in is
    needed first (``Access.sign_in_again``).
    """
    approver, note, clicked = signoff_form(prefix, verb=verb, note_label=note_label, enabled=enabled)
    if clicked:
        st.session_state[f"{prefix}_confirm_open"] = subject
    if st.session_state.get(f"{prefix}_confirm_open") == subject:
        signoff_dialog(
            prefix, verb=verb, title=title, summary=summary, approver=approver, note=note,
            act=lambda: act(approver, note), reauth=reauth,
        )


# ----------------------------------------------------------------------------- serving

#: Response headers that forbid framing by any other site (clickjacking: one click on
#: Retrain starts a job). Streamlit has no configuration option for response headers,
#: so the serving layer adds them: ``uvicorn --factory page_frame:secure_app``.
FRAME_HEADERS: Final[tuple[tuple[bytes, bytes], ...]] = (
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
)


class FrameDenyMiddleware:
    """ASGI middleware adding :data:`FRAME_HEADERS` to every HTTP response."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message.get("type") == "http.response.start":
                names = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in FRAME_HEADERS if n not in names]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def secure_app() -> Any:
    """The app as an ASGI application that cannot be framed (for ``uvicorn --factory``)."""
    from pathlib import Path

    from starlette.middleware import Middleware

    return st.App(Path(__file__).with_name("app.py"), middleware=[Middleware(FrameDenyMiddleware)])
