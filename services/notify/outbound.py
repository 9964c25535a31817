"""Calls to addresses users gave us (webhooks, push endpoints), safe against SSRF.

The decision is taken on the address actually connected to, at every delivery: the host is
resolved, every address it resolves to must be public (`is_public`), and the connection is made
to one of exactly those addresses (`GuardedBackend` for httpx, `GuardedResolver` for aiohttp),
so a DNS answer that changes between the check and the connection (rebinding) cannot slip in.
Redirects are never followed. Registration only checks the URL's form (`check_endpoint`):
a name that is public today may resolve to an internal address tomorrow.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import httpcore
import httpx
from aiohttp.abc import AbstractResolver, ResolveResult

from services.notify.addresses import (
    BlockedTarget,
    IPAddress,
    address_allowed,
    canonical_host,
    check_host,
)

# host, port -> the addresses it resolves to (as strings); tests inject their own.
Resolve = Callable[[str, int], Awaitable[list[str]]]


class RedirectRefused(Exception):
    """The target answered with a redirect: never followed."""


async def system_resolve(host: str, port: int) -> list[str]:
    """The operating system's resolver, off the event loop."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class AddressGuard:
    """Resolves a target host and lets through only public addresses.

    `allow_loopback` (dev and tests only: NOTIFY_ALLOW_LOOPBACK_TARGETS) also lets loopback
    addresses and `localhost` through, nothing else.
    """

    def __init__(self, resolve: Resolve = system_resolve, *, allow_loopback: bool = False) -> None:
        self._resolve = resolve
        self.allow_loopback = allow_loopback

    def allowed(self, address: IPAddress) -> bool:
        return address_allowed(address, allow_loopback=self.allow_loopback)

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        """Every address `host` resolves to, all allowed, in the resolver's order.

        Raises `BlockedTarget` when any of them is refused (a name that resolves to both a public
        and an internal address is refused as a whole), `OSError` when it does not resolve."""
        if (literal := check_host(host, allow_loopback=self.allow_loopback)) is not None:
            return [literal]
        try:
            answers = await self._resolve(canonical_host(host), port)
        except socket.gaierror as exc:
            raise OSError(f"the target host does not resolve ({exc.errno})") from None
        addresses = [ipaddress.ip_address(answer.split("%", 1)[0]) for answer in answers]
        if not addresses:
            raise OSError("the target host does not resolve")
        if not all(self.allowed(address) for address in addresses):
            raise BlockedTarget("the target address is not public")
        return addresses

    async def check_url(self, url: str) -> None:
        """Resolve and check the URL's host now (an early, neutral refusal before any send).

        Raises BlockedTarget when the URL has no host or it resolves to a refused address."""
        parts = urlsplit(url)  # the same parser as registration (httpx refuses some spellings)
        host = parts.hostname
        if not host:
            raise BlockedTarget("the target has no host")
        await self.resolve(host, parts.port or (443 if parts.scheme == "https" else 80))


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend with the guard in front: the TCP connection goes to an address
    checked by the guard in this very call (TLS still verifies the certificate for the name)."""

    def __init__(self, guard: AddressGuard, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self._guard = guard
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """A connection to the first of the host's checked addresses that answers; the guard's
        BlockedTarget when none is allowed, else the last ConnectError/ConnectTimeout."""
        last: Exception | None = None
        for address in await self._guard.resolve(host, port):
            try:
                return await self._inner.connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        """Always raises BlockedTarget: unix sockets are never targets."""
        raise BlockedTarget("unix sockets are not targets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport on the guarded backend; no proxies from the environment."""

    def __init__(self, guard: AddressGuard) -> None:
        super().__init__(trust_env=False)
        # httpx 0.28 builds its pool without a backend parameter: the same pool, guarded.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=100,
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
            network_backend=GuardedBackend(guard),
        )


def guarded_client(
    guard: AddressGuard, timeout: float, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    """An httpx client for user-given targets: guarded connections, no redirects, no env proxies.
    `transport` (tests) replaces the network; `AddressGuard.check_url` still runs before sends."""
    return httpx.AsyncClient(
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
        transport=transport or GuardedTransport(guard),
    )


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver with the guard: aiohttp connects only to the addresses returned here.
    (aiohttp skips resolvers for IP literals: `AddressGuard.check_url` covers those first.)"""

    def __init__(self, guard: AddressGuard) -> None:
        self._guard = guard

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(
                hostname=host,
                host=str(address),
                port=port,
                family=socket.AF_INET6 if address.version == 6 else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for address in await self._guard.resolve(host, port)
        ]

    async def close(self) -> None:
        return None


async def _refuse_redirect(session: aiohttp.ClientSession, context: Any, params: Any) -> None:
    raise RedirectRefused("the target answered with a redirect")


def guarded_session(guard: AddressGuard) -> aiohttp.ClientSession:
    """An aiohttp session for user-given targets: guarded resolution, redirects refused
    (aiohttp follows them by default and pywebpush does not turn that off), no env proxies."""
    tracing = aiohttp.TraceConfig()
    tracing.on_request_redirect.append(_refuse_redirect)
    connector = aiohttp.TCPConnector(resolver=GuardedResolver(guard), use_dns_cache=False)
    return aiohttp.ClientSession(connector=connector, trace_configs=[tracing], trust_env=False)
