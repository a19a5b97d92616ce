"""One delivery attempt to one target: the signed webhook (httpx) or Apprise (chat, email).

Each function makes one attempt and raises :class:`DeliveryError` with a short reason
when it did not get through; the worker retries. Reasons never hold a secret: the
caller redacts them with the target's secrets before recording (``secrets.redact``).
httpx and Apprise are imported here, on the worker's thread, never on a request path.
"""

from __future__ import annotations

import logging
import threading

from taskclf_core.errors import DeliveryError
from taskclf_core.notify.sign import DELIVERY_HEADER, EVENT_HEADER, signed_headers

#: Apprise logs to one global logger: one Apprise delivery at a time, so a captured error
#: belongs to the delivery that made it (and holds none of another target's URLs).
_APPRISE_LOCK = threading.Lock()


def send_webhook(url: str, secret: str, body: bytes, *, kind: str, event_id: str, timeout: float) -> None:
    """POST the signed JSON body; a 2xx answer within ``timeout`` seconds is delivered.

    Raises:
        DeliveryError: no answer in time, a connection error, or a status outside 2xx.
    """
    import httpx

    headers = {"Content-Type": "application/json", EVENT_HEADER: kind, DELIVERY_HEADER: event_id,
               "User-Agent": "taskclf-retrain-console", **signed_headers(secret, body)}
    try:
        response = httpx.post(url, content=body, headers=headers, timeout=timeout, follow_redirects=False)
    except httpx.TimeoutException:
        raise DeliveryError(f"no answer within {timeout:g} s") from None
    except httpx.HTTPError as exc:
        raise DeliveryError(f"{type(exc).__name__}: {exc}") from None
    if not 200 <= response.status_code < 300:
        raise DeliveryError(f"HTTP {response.status_code} {response.reason_phrase}".strip())


def send_apprise(urls: tuple[str, ...], *, title: str, body: str) -> None:
    """Send ``title`` and ``body`` to every Apprise URL (Slack, Teams, Matrix, email, ...).

    Raises:
        DeliveryError: a URL Apprise does not understand, or a service that refused or
            did not answer (Apprise's own warnings, as the reason).
    """
    import apprise

    with _APPRISE_LOCK:
        sender = apprise.Apprise()
        for number, url in enumerate(urls, start=1):
            if not sender.add(url):
                raise DeliveryError(f"Apprise URL {number} of {len(urls)} is not one Apprise understands")
        with apprise.LogCapture(level=logging.WARNING, fmt="%(message)s") as captured:
            ok = sender.notify(body=body, title=title)
        if not ok:
            said = " ".join(captured.getvalue().split())
            raise DeliveryError(f"Apprise could not deliver ({said[:300] or 'no reason given'})")


__all__ = ["send_apprise", "send_webhook"]
