"""Who may ask: the bind address rule and the token check.

The server binds to 127.0.0.1 unless told otherwise. Any other address
reaches other machines, so it needs a token (--token or METRICWATCH_TOKEN),
and without one the server refuses to start. With a token, every request
carries it, as `Authorization: Bearer TOKEN`, or `?token=TOKEN` on the event
streams only (what an EventSource in a browser can send), compared in constant
time.
"""

from __future__ import annotations

import hmac
import ipaddress
import socket
from collections.abc import Mapping

TOKEN_ENV = "METRICWATCH_TOKEN"


class AddressError(Exception):
    """The host cannot be served as asked (unknown name, or not loopback without a token)."""


def is_loopback(host: str) -> bool:
    """Whether every address host resolves to is a loopback address (127.0.0.0/8, ::1).
    Raises AddressError for a name that does not resolve."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass  # a name: what it resolves to decides
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as error:
        raise AddressError(f"cannot listen on {host!r}: unknown host ({error})") from None
    addresses = {info[4][0] for info in infos}
    return bool(addresses) and all(
        ipaddress.ip_address(str(address).split("%")[0]).is_loopback for address in addresses
    )


def check_bind(host: str, token: str | None) -> None:
    """Raises AddressError when host is not loopback and there is no token."""
    if token is None and not is_loopback(host):
        raise AddressError(
            f"refusing to listen on {host} without a token: other machines could read "
            f"every run; pass --token TOKEN (or set {TOKEN_ENV}), or use --host 127.0.0.1"
        )


def token_of(
    headers: Mapping[str, str], query: Mapping[str, str], *, query_allowed: bool = False
) -> str | None:
    """The token a request carries: its bearer token, else (where `query_allowed`: the
    event streams, which a browser's EventSource opens without headers) its `token`
    query parameter. Elsewhere a token in the URL is not taken: URLs end up in logs,
    histories and Referer headers."""
    header = headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return query.get("token") if query_allowed else None


def token_matches(given: str | None, expected: str) -> bool:
    """Constant-time comparison (the time taken says nothing of how much matched)."""
    if given is None:
        return False
    # surrogateescape both: a token from the environment that is not UTF-8 compares as its
    # bytes instead of raising at every request.
    return hmac.compare_digest(
        given.encode("utf-8", "surrogateescape"), expected.encode("utf-8", "surrogateescape")
    )
