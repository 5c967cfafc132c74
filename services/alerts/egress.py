"""Posts to URLs that tenants name (webhooks, their own Alertmanager): only to public
addresses, pinned, bounded.

A tenant naming `http://169.254.169.254/` or `http://127.0.0.1:5432/` would have the service
probe its own network for it (and read the answers back through the deliveries API). So:

- the host is resolved and every address it has must be public (not loopback, link-local,
  private, unique-local, multicast, reserved or unspecified, IPv4 or IPv6, IPv4-mapped
  included), at configuration time (a 422) and again at each post;
- the post connects to the address that was checked, not to the name again (so a DNS answer
  cannot change between check and connect), with the Host header and TLS SNI/certificate
  check still on the name;
- no redirects are followed (a 3xx is a failed attempt), the whole attempt has a deadline,
  and at most `MAX_ANSWER_BYTES` of the answer are read;
- what is recorded of a failure is its kind (`timeout`, `connect`, `HTTP 503`), never the
  transport's message.

`LODESTAR_WEBHOOK_ALLOW_PRIVATE=true` lifts the address rule for on-prem receivers.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import httpx

MAX_ANSWER_BYTES = 64 * 1024
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class DestinationRefused(ValueError):
    """The URL cannot be posted to (not http(s), does not resolve, or not a public address)."""


def is_public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


@dataclass(frozen=True, slots=True)
class Destination:
    """A URL and the address it is posted to."""

    url: str
    host: str
    address: str

    @property
    def pinned_url(self) -> str:
        """The URL with the checked address in place of the name."""
        parts = urlsplit(self.url)
        literal = f"[{self.address}]" if ":" in self.address else self.address
        netloc = literal if parts.port is None else f"{literal}:{parts.port}"
        return urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))

    @property
    def host_header(self) -> str:
        netloc = urlsplit(self.url).netloc
        return netloc.rpartition("@")[2]


async def resolve(url: str, *, allow_private: bool) -> Destination:
    """The address to post `url` to; DestinationRefused if there is none allowed."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DestinationRefused("the URL must be http(s)://host/...")
    if parts.username or parts.password:
        raise DestinationRefused("the URL must not carry credentials")
    host = parts.hostname
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise DestinationRefused("the URL's port is not valid") from exc
    try:
        found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise DestinationRefused(f"the host {host!r} does not resolve") from exc
    addresses = [ipaddress.ip_address(info[4][0]) for info in found]
    if not addresses:
        raise DestinationRefused(f"the host {host!r} does not resolve")
    if not allow_private and not all(is_public(a) for a in addresses):
        # All of them: a name with one public and one private address would otherwise be
        # refused or not depending on which one the resolver puts first.
        raise DestinationRefused(
            "the URL's host is not a public address (loopback, private, link-local and the "
            "like are refused; LODESTAR_WEBHOOK_ALLOW_PRIVATE=true allows them)"
        )
    return Destination(url=url, host=host, address=str(addresses[0]))


@dataclass(frozen=True, slots=True)
class Answer:
    status_code: int | None
    error: str | None


async def post(
    client: httpx.AsyncClient,
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    allow_private: bool,
    deadline_s: float,
) -> Answer:
    """One bounded attempt: resolve and check, connect to that address, read a capped answer,
    all within `deadline_s`."""
    try:
        async with asyncio.timeout(deadline_s):
            destination = await resolve(url, allow_private=allow_private)
            request = client.build_request(
                "POST",
                destination.pinned_url,
                content=body,
                headers={**headers, "Host": destination.host_header},
                extensions={"sni_hostname": destination.host},
            )
            response = await client.send(request, stream=True, follow_redirects=False)
            try:
                read = 0
                async for chunk in response.aiter_raw():
                    read += len(chunk)
                    if read >= MAX_ANSWER_BYTES:
                        break
            finally:
                await response.aclose()
    except DestinationRefused:
        return Answer(None, "refused destination")
    except TimeoutError:
        return Answer(None, "timeout")
    except httpx.TimeoutException:
        return Answer(None, "timeout")
    except httpx.HTTPError:
        return Answer(None, "connect")
    error = None if response.is_success else f"HTTP {response.status_code}"
    return Answer(response.status_code, error)
