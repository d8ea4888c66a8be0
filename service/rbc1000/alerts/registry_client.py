"""HTTP access to a Confluent-compatible schema registry: bounded retries, a short failure
cache, and no credential in any message.

What an answer means for the message that asked (the run loop acts on the reason):

- 200: the schema.
- 404: the registry does not know the id: `unknown_schema`, the message's own fault, so it
  is dead-lettered. Cached for `unknown_ttl_s`, so a stream of messages with that id makes
  one request per TTL, not one per message.
- anything else (5xx, 401/403, 429, a timeout, a refused or reset connection, a body that is
  not JSON): no fault of the message. Retried `attempts` times with exponential backoff
  (`backoff_s`, doubling), then `registry_unavailable`, which is transient: the loop stops
  without dead-lettering or committing, and the batch is read again after a restart. The
  failure is cached for the last backoff interval only, so callers that go on (file
  commands) do not hammer a registry that is down.

Credentials come as `user:password@` in the URL or as options; they travel only in the
`Authorization` header. Every URL in a message, exception or log line is `redact_url`ed, and
any error text is scrubbed of the secrets themselves.
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from rbc1000.alerts.alert import DecodeError
from rbc1000.reasons import Reason

log = logging.getLogger(__name__)

MASK = "***"
# Query parameters whose values are credentials in the URLs registries are given with.
_SECRET_PARAMS = ("token", "key", "secret", "password", "auth", "signature", "credential")
# Failed lookups remembered at most (an id per hostile message must not grow memory).
FAILURE_CACHE_SIZE = 1024
ACCEPT = "application/vnd.schemaregistry.v1+json, application/json"


def split_credentials(url: str) -> tuple[str, str | None, str | None]:
    """`url` without its `user:password@`, and the user and password it carried (unquoted)."""
    parts = urllib.parse.urlsplit(url)
    if "@" not in parts.netloc:
        return url, None, None
    userinfo, _, host = parts.netloc.rpartition("@")
    user, sep, password = userinfo.partition(":")
    clean = urllib.parse.urlunsplit(parts._replace(netloc=host))
    return clean, urllib.parse.unquote(user) or None, urllib.parse.unquote(password) if sep else None


def redact_url(url: str) -> str:
    """`url` safe to show: user info and credential-like query values replaced by `***`."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return MASK
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{MASK}@{netloc.rpartition('@')[2]}"
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc, query=_redact_query(parts.query)))


def _redact_query(query: str) -> str:
    pairs = []
    for part in query.split("&"):
        key, sep, value = part.partition("=")
        if sep and any(s in key.lower() for s in _SECRET_PARAMS):
            value = MASK
        pairs.append(f"{key}{sep}{value}")
    return "&".join(pairs)


@dataclass(frozen=True, slots=True)
class RegistryOptions:
    """Where the registry is, how to authenticate and how patiently to ask it."""

    url: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    timeout_s: float = 5.0
    attempts: int = 3
    backoff_s: float = 0.5
    unknown_ttl_s: float = 60.0

    def __post_init__(self) -> None:
        if self.timeout_s <= 0 or self.attempts < 1 or self.backoff_s < 0 or self.unknown_ttl_s < 0:
            raise ValueError(
                "registry options: timeout_s > 0, attempts >= 1, backoff_s and unknown_ttl_s >= 0"
            )

    @classmethod
    def of(cls, url: str | RegistryOptions) -> RegistryOptions:
        """Options from a bare URL (its `user:password@` taken apart) or as given."""
        options = cls(url) if isinstance(url, str) else url
        clean, user, password = split_credentials(options.url)
        return replace(
            options,
            url=clean.rstrip("/"),
            username=options.username or user,
            password=options.password or password,
        )

    def secrets(self) -> list[str]:
        return [s for s in (self.password, self.token) if s]

    def __str__(self) -> str:
        return redact_url(self.url)


@dataclass(frozen=True, slots=True)
class _Failure:
    error: DecodeError
    until: float


class RegistryClient:
    """GETs JSON from the registry with the retries and failure cache of the module docstring.

    Thread-safe. `sleep` and `clock` are injectable so tests need not wait for backoffs.
    """

    def __init__(
        self,
        options: RegistryOptions,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.options = RegistryOptions.of(options)
        self.requests = 0
        self._sleep = sleep
        self._clock = clock
        self._failures: OrderedDict[str, _Failure] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def where(self) -> str:
        """The registry's URL, safe to show."""
        return redact_url(self.options.url)

    def get_json(self, path: str) -> dict[str, Any]:
        """The JSON object at `path`, or DecodeError (`unknown_schema` or `registry_unavailable`)."""
        cached = self._cached_failure(path)
        if cached is not None:
            raise cached
        opts = self.options
        for attempt in range(opts.attempts):
            try:
                return self._request(path)
            except DecodeError as exc:
                if exc.reason == Reason.UNKNOWN_SCHEMA:
                    self._remember(path, exc, opts.unknown_ttl_s)
                    raise
                wait = opts.backoff_s * 2**attempt
                if attempt + 1 == opts.attempts:
                    log.warning(
                        "registry_unavailable url=%s attempts=%d error=%s", self.where, opts.attempts, exc
                    )
                    self._remember(path, exc, wait)
                    raise
                log.info(
                    "registry_retry url=%s attempt=%d wait_s=%.2f error=%s",
                    self.where,
                    attempt + 1,
                    wait,
                    exc,
                )
                self._sleep(wait)
        raise AssertionError("unreachable: attempts >= 1")

    def _request(self, path: str) -> dict[str, Any]:
        where = f"{self.where}{path}"
        request = urllib.request.Request(self.options.url + path, headers=self._headers())
        self.requests += 1
        try:
            with urllib.request.urlopen(request, timeout=self.options.timeout_s) as response:
                body = json.load(response)
        except urllib.error.HTTPError as exc:
            reason = Reason.UNKNOWN_SCHEMA if exc.code == 404 else Reason.REGISTRY_UNAVAILABLE
            raise DecodeError(reason, f"registry answered {exc.code} for {where}") from None
        except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as exc:
            # HTTPException: a malformed or truncated answer (bad status line, short body).
            text = str(getattr(exc, "reason", exc))
            raise DecodeError(Reason.REGISTRY_UNAVAILABLE, f"{where}: {self._scrub(text)}") from None
        if not isinstance(body, dict):
            raise DecodeError(Reason.REGISTRY_UNAVAILABLE, f"{where}: answer is not a JSON object")
        return body

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": ACCEPT}
        opts = self.options
        if opts.token:
            headers["Authorization"] = f"Bearer {opts.token}"
        elif opts.username is not None or opts.password is not None:
            pair = f"{opts.username or ''}:{opts.password or ''}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        return headers

    def _scrub(self, text: str) -> str:
        for secret in self.options.secrets():
            text = text.replace(secret, MASK)
        return text

    def _cached_failure(self, path: str) -> DecodeError | None:
        with self._lock:
            failure = self._failures.get(path)
            if failure is None:
                return None
            if self._clock() >= failure.until:
                del self._failures[path]
                return None
        return DecodeError(failure.error.reason, f"{failure.error.detail} (cached)")

    def _remember(self, path: str, error: DecodeError, ttl_s: float) -> None:
        if ttl_s <= 0:
            return
        with self._lock:
            self._failures[path] = _Failure(error, self._clock() + ttl_s)
            self._failures.move_to_end(path)
            while len(self._failures) > FAILURE_CACHE_SIZE:
                self._failures.popitem(last=False)
