"""The top navigation: each app adds its entries in ``AppConfig.ready`` with ``register_nav``.

An entry names a URL and who sees the link (everyone, signed-in users, or some roles); the link is
a convenience only, the page itself checks permissions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.urls import NoReverseMatch, reverse


@dataclass(frozen=True)
class NavEntry:
    label: Any  # a lazy translation
    url_name: str
    roles: frozenset[str] | None = None  # None: everyone; empty: any signed-in user
    order: int = 50


_entries: list[NavEntry] = []


def register_nav(label: Any, url_name: str, roles: set[str] | None = None, order: int = 50) -> None:
    entry = NavEntry(label, url_name, frozenset(roles) if roles is not None else None, order)
    if entry not in _entries:
        _entries.append(entry)


def nav_for(user: Any, roles: set[str]) -> list[tuple[Any, str]]:
    links = []
    for entry in sorted(_entries, key=lambda e: (e.order, str(e.url_name))):
        if entry.roles is not None and (
            not user.is_authenticated or (entry.roles and not entry.roles & roles)
        ):
            continue
        try:
            links.append((entry.label, reverse(entry.url_name)))
        except NoReverseMatch:
            continue
    return links
