# SPDX-License-Identifier: MIT
"""The one retry policy of every Hub request (API calls and ranged reads).

Temporary failures (408/429/5xx, network errors) are retried with exponential backoff capped at
``MAX_WAIT``; nothing is re-sent before ``Retry-After`` (or the Hub's ``RateLimit`` reset), and a wait
longer than ``max_retry_after`` fails at once. A ``Retry-After`` holds every thread of the client, since
a rate limit is per client, not per URL. :class:`Attempts` counts one operation's failures against
``max_retries`` and re-raises the last cause when they run out.
"""
from __future__ import annotations

import email.utils
import logging
import re
import threading
import time

from ..errors import HubError
from .http import ENV_MAX_RETRY_AFTER

# The retry and rate-limit lines have always been logged as "embdim.hub"; the name is kept.
log = logging.getLogger("embdim.hub")

ENV_BACKOFF = "EMBDIM_BACKOFF_BASE"     # seconds before the first retry (doubles each time)
ENV_RETRIES = "EMBDIM_MAX_RETRIES"
# Same temporary failures huggingface_hub retries (utils/_http.py _DEFAULT_RETRY_ON_STATUS_CODES).
RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})
MAX_WAIT = 8.0             # cap of the exponential backoff (s), as huggingface_hub's http_backoff
ANNOUNCE_WAIT = 5.0        # a Retry-After wait this long or longer is announced on stderr (shorter: silent)

# The Hub's rate-limit header (IETF draft-ietf-httpapi-ratelimit-headers-09): '"api";r=0;t=55' means no
# request Remaining in the window, which resets in 55 s. Same pattern as huggingface_hub's parser.
_RATELIMIT = re.compile(r"\"(?P<resource_type>\w+)\"\s*;\s*r\s*=\s*(?P<r>\d+)\s*;\s*t\s*=\s*(?P<t>\d+)")


def retry_after(headers) -> float | None:
    """Seconds to wait from ``Retry-After`` (delta-seconds, fractional accepted, or an HTTP date), else
    from the Hub's ``RateLimit: "api";r=0;t=55`` header when no request is left in the window."""
    v = headers.get("retry-after")
    if not v:
        m = _RATELIMIT.search(headers.get("ratelimit") or "")
        return float(m.group("t")) if m and int(m.group("r")) == 0 else None
    try:
        return max(0.0, float(v))
    except ValueError:
        pass
    try:
        # An HTTP date has whole seconds: wait one more, so we are never early.
        return max(0.0, email.utils.parsedate_to_datetime(v).timestamp() - time.time() + 1.0)
    except (TypeError, ValueError):
        return None


class Backoff:
    """One client's retry policy and its ``Retry-After`` hold (shared by its threads).

    Parameters
    ----------
    backoff_base : float
        First retry wait in seconds (then doubled, capped at ``MAX_WAIT``).
    max_retries : int
        Retries after the first attempt.
    max_retry_after : float
        Longest ``Retry-After`` obeyed (s); a longer one fails at once.
    """

    def __init__(self, backoff_base: float, max_retries: int, max_retry_after: float):
        self.backoff_base, self.max_retries, self.max_retry_after = backoff_base, max_retries, max_retry_after
        self._hold_until = 0.0  # time.monotonic() before which no request is sent (Retry-After)
        self._hold_lock = threading.Lock()

    def wait_hold(self) -> None:
        """Called before every request: after a Retry-After, no thread of this client sends anything
        (a rate limit is per client, not per URL; ``revisions`` lists branches from several threads)."""
        while (left := self._hold_until - time.monotonic()) > 0:
            time.sleep(left)

    def sleep(self, failures: int, retry_after: float | None, what: str, why: str) -> None:
        """Wait before retry number ``failures``; a ``Retry-After`` above ``max_retry_after`` raises."""
        wait = min(MAX_WAIT, self.backoff_base * 2 ** (failures - 1))
        if retry_after is not None:
            cap = self.max_retry_after
            if retry_after > cap:
                raise HubError(f"{what}: rate limited ({why}), the server asks to wait {retry_after:.0f} s, more "
                               f"than the {cap:.0f} s accepted (--max-retry-after / {ENV_MAX_RETRY_AFTER}); "
                               "try again later")
            wait = max(wait, retry_after)  # nothing is re-sent before Retry-After
            with self._hold_lock:
                self._hold_until = max(self._hold_until, time.monotonic() + retry_after)
            if wait >= ANNOUNCE_WAIT:
                log.warning("%s: rate limited, waiting %.0f s (attempt %d/%d)", what, wait, failures + 1,
                            self.max_retries + 1)
        log.info("%s: %s; retry %d/%d in %.2f s", what, why, failures, self.max_retries, wait)
        time.sleep(wait)


class Attempts:
    """The failures of one operation (``what``), counted against its policy's ``max_retries``.

    ``ctx`` (``repo_id``, ``byte_range``, ...) goes into the ``HubError`` raised when retries run out.
    """

    def __init__(self, policy: Backoff, what: str, **ctx):
        self.policy, self.what, self.ctx, self.failures = policy, what, ctx, 0

    def failed(self, why: str, err: BaseException | None = None) -> None:
        """Count one failure; raise ``HubError`` (from ``err``) once more than ``max_retries`` happened."""
        self.failures += 1
        if self.failures > self.policy.max_retries:
            raise HubError(f"{self.what}: still failing after {self.policy.max_retries} retries ({why})",
                           **self.ctx) from err

    def reset(self) -> None:
        """Real progress was made: the next failure is the first again."""
        self.failures = 0

    def wait(self, why: str, retry_after: float | None = None) -> None:
        """Sleep before the next attempt (backoff, at least ``retry_after``)."""
        self.policy.sleep(self.failures, retry_after, self.what, why)
