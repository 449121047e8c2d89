"""Test helpers every app uses: one user per role, two-factor-verified clients, and the access matrix.

The access matrix walks every URL pattern and every API operation with every role. An app declares,
per URL name or API operation id, which roles are allowed (and how to build the arguments); the
matrix asserts that allowed roles succeed and all others get 401/403/404 or a redirect to sign-in,
and a project-wide test fails if any URL or operation has no declaration, so a new endpoint cannot
be forgotten.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from django.test import Client

ANONYMOUS = "anonymous"
ROLES = ("office", "committee", "expert", "authority", "lab_manager", "analyst", "client", "institution")
EVERYONE = frozenset((ANONYMOUS, *ROLES))
SIGNED_IN = frozenset(ROLES)
NOBODY: frozenset[str] = frozenset()

_counter = iter(range(1, 10**9))


def make_organisation(**fields: Any) -> Any:
    from qslab.accounts.models import Organisation
    from qslab.core.management.commands.load_demo import fake_uscc

    n = next(_counter)
    defaults = {
        "name_zh": f"测试机构{n}",
        "name_en": f"Test organisation {n}",
        "uscc": fake_uscc(f"test-{n}"),
        "kind": Organisation.Kind.SUPPORTING,
        "region_code": "320000",
    }
    return Organisation.objects.create(**{**defaults, **fields})


def make_user(
    role: str | None = None, *, username: str | None = None, scope: Any = None, **membership: Any
) -> Any:
    """A user holding ``role`` (unscoped unless ``scope``/``region_code``/``industry`` given)."""
    from qslab.accounts.models import RoleMembership, User

    n = next(_counter)
    user = User.objects.create_user(
        username=username or f"{role or 'user'}{n}",
        password="correct horse battery staple",  # noqa: S106
        email=f"{role or 'user'}{n}@example.invalid",
        preferred_language="en",
    )
    if role:
        m = RoleMembership(user=user, role=role, **membership)
        if scope is not None:
            from django.contrib.contenttypes.models import ContentType

            m.scope_type = ContentType.objects.get_for_model(scope, for_concrete_model=True)
            m.scope_id = str(scope.pk)
        m.save()
    return user


def totp_device(user: Any) -> Any:
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    return device or TOTPDevice.objects.create(user=user, name="test", confirmed=True)


def current_totp(device: Any) -> str:
    """The code an authenticator app would show now for ``device``."""
    from django_otp.oath import TOTP

    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():0{device.digits}d}"


def verified_client(user: Any | None) -> Client:
    """A test client signed in as ``user`` and, for roles that need it, past the two-factor check."""
    client = Client()
    if user is None:
        return client
    from django_otp import DEVICE_ID_SESSION_KEY

    client.force_login(user)
    device = totp_device(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client


@dataclasses.dataclass(frozen=True)
class Case:
    """One URL or API operation: who may use it and how to call it.

    ``target`` is a URL name (``"portal:notice"``) or an API operation id. ``kwargs(world)`` builds the
    URL arguments from the objects the app's world fixture made. ``allowed`` are role names (and
    ``"anonymous"``); ``world`` maps role names to users.
    """

    target: str
    allowed: frozenset[str] | Iterable[str]
    method: str = "get"
    kwargs: Callable[[Any], dict[str, Any]] | None = None
    data: Callable[[Any], dict[str, Any]] | dict[str, Any] | None = None
    query: str = ""
    api: bool = False
    note: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "allowed", frozenset(self.allowed))
        unknown = set(self.allowed) - EVERYONE
        if unknown:
            raise ValueError(f"{self.target}: unknown roles {sorted(unknown)}")


def own_and_other(
    target: str,
    allowed: Iterable[str],
    own: Callable[[Any], dict[str, Any]],
    other: Callable[[Any], dict[str, Any]],
    *,
    own_note: str = "",
    note: str = "another lab",
    **fields: Any,
) -> tuple[Case, Case]:
    """The two rows of an endpoint on a laboratory's object: ``own`` builds the arguments for an object
    of the lab manager's laboratory (``allowed`` and the ``lab_manager``), ``other`` for one of another
    laboratory (``allowed`` only). Any other ``Case`` field (method, api, data, query) goes to both."""
    return (
        Case(target, {*allowed, "lab_manager"}, kwargs=own, note=own_note, **fields),
        Case(target, allowed, kwargs=other, note=note, **fields),
    )


SUCCESS = {200, 201, 204}


def call(case: Case, client: Client, world: Any, token: str | None = None) -> Any:
    from django.urls import reverse

    kwargs = case.kwargs(world) if case.kwargs else {}
    data = case.data(world) if callable(case.data) else (case.data or {})
    headers = {}
    if case.api:
        url = _api_path(case.target, kwargs)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if case.method == "get":
            return client.get(url + (f"?{case.query}" if case.query else ""), headers=headers)
        uploads = isinstance(data, dict) and any(hasattr(v, "read") for v in data.values())
        if case.method == "post" and uploads:
            return client.post(url, data=data, headers=headers)  # an upload: multipart
        return getattr(client, case.method)(url, data=data, content_type="application/json", headers=headers)
    url = reverse(case.target, kwargs=kwargs) + (f"?{case.query}" if case.query else "")
    return getattr(client, case.method)(url, data=data)


def _api_path(operation_id: str, kwargs: dict[str, Any]) -> str:
    for path, _method, op in api_operations():
        if op == operation_id:
            return "/api" + path.format(**kwargs)
    raise KeyError(f"no API operation {operation_id}")


@functools.cache
def api_operations() -> list[tuple[str, str, str]]:
    """(path, method, operationId) of every operation in the OpenAPI schema."""
    from qslab.api import api

    schema = api.get_openapi_schema()
    out = []
    for path, methods in schema["paths"].items():
        for method, op in methods.items():
            out.append((path.removeprefix("/api"), method, op["operationId"]))
    return out


def _site_patterns() -> Iterable[tuple[str, Any]]:
    """(namespaced name, pattern) of every named URL pattern outside the admin and the API."""
    from django.urls import URLPattern, URLResolver, get_resolver

    def walk(patterns: Iterable[Any], namespace: str = "") -> Iterable[tuple[str, Any]]:
        for p in patterns:
            if isinstance(p, URLResolver):
                ns = p.namespace or ""
                if ns in ("admin", "api") or str(p.pattern).startswith(("api/", "admin/")):
                    continue
                yield from walk(p.url_patterns, f"{namespace}{ns}:" if ns else namespace)
            elif isinstance(p, URLPattern) and p.name:
                yield f"{namespace}{p.name}", p

    return walk(get_resolver().url_patterns)


def url_names() -> set[str]:
    """Every named URL pattern of the site, outside the admin, API and language switcher."""
    return {name for name, _pattern in _site_patterns()} - {"set_language"}


def assert_no_media_link(case: Case, role: str, response: Any) -> None:
    """A page never links a stored file by its ``MEDIA_URL`` address: such a link skips every permission
    check (whoever guesses or is forwarded the address gets the file). Files go out through views that
    check who asks and answer with ``qslab.core.uploads.download_response``."""
    from django.conf import settings

    if response.status_code != 200 or getattr(response, "streaming", False):
        return
    if not response.get("Content-Type", "").startswith("text/html"):
        return
    body = response.content.decode(errors="replace")
    assert f'="{settings.MEDIA_URL}' not in body, (
        f"{case.target} as {role}: the page links a stored file by its {settings.MEDIA_URL} address"
    )


def assert_access(case: Case, role: str, response: Any) -> None:
    """Allowed roles succeed; everyone else is refused without learning anything."""
    status = response.status_code
    location = response.get("Location", "") if status in (301, 302, 303) else ""
    to_login = "/accounts/login/" in location or "/accounts/two-factor/" in location
    if role in case.allowed:
        ok = status in SUCCESS or (status in (302, 303) and not to_login)
        assert ok, f"{case.target} as {role}: expected success, got {status} {location}"
    else:
        refused = status in (401, 403, 404) or (status in (302, 303) and to_login and role == ANONYMOUS)
        assert refused, f"{case.target} as {role}: expected refusal, got {status} {location}"


EVERY_ROLE = "every role"


def close_quietly(response: Any) -> None:
    """Finish a (streaming) response as the test client does: without closing the database connection.

    ``response.close()`` sends ``request_finished``, whose ``close_old_connections`` would close a
    connection that is inside the test's transaction (PostgreSQL then fails every later query).
    """
    from django.core.signals import request_finished
    from django.db import close_old_connections

    if getattr(response, "streaming", False):
        b"".join(response.streaming_content)
    request_finished.disconnect(close_old_connections)
    try:
        response.close()
    finally:
        request_finished.connect(close_old_connections)


def check_access(case: Case, role: str, clients: dict[str, Client], world: Any) -> None:
    """Run ``case`` as ``role``, or as every role in turn (``EVERY_ROLE``), and check who gets in.

    Each role's call runs in a savepoint that is rolled back, so one role's successful action (say, a
    transition) does not change what the next role finds, and one world serves all eight roles.
    """
    from django.db import transaction

    roles = (ANONYMOUS, *ROLES) if role == EVERY_ROLE else (role,)
    failures = []
    for current in roles:
        client = Client() if case.api else clients[current]  # made outside the savepoint
        with transaction.atomic():
            try:
                response = call(case, client, world, token=world.tokens.get(current) if case.api else None)
                try:
                    assert_access(case, current, response)
                    assert_no_media_link(case, current, response)
                finally:
                    close_quietly(response)
            except AssertionError as exc:
                failures.append(str(exc))
            finally:
                transaction.set_rollback(True)
    assert not failures, "\n".join(failures)


def matrix(cases: Iterable[Case]) -> list[Any]:
    """``pytest.mark.parametrize`` arguments: every case, each checked with every role in one world."""
    import pytest

    return [
        pytest.param(case, EVERY_ROLE, id=f"{case.target}{'/' + case.note if case.note else ''}")
        for case in cases
    ]


def list_queries_at_two_sizes(
    client: Client, url: str, add_rows: Callable[[int], Any], few: int = 3, many: int = 30
) -> tuple[int, int]:
    """The number of queries of one API list page with ``few`` rows added and then with ``many``.

    ``add_rows(n)`` adds n rows the client sees; the page (``url``, with a limit above ``many``) must list
    every added row, so the two counts compare the same work on 3 rows and on 30. A first request fills
    the caches (content types, roles, translations).
    """
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    counts = []
    before = None
    for total in (few, many):
        add_rows(total - (few if counts else 0))
        if before is None:
            response = client.get(url)
            assert response.status_code == 200, response.content
            before = response.json()["count"] - few
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url)
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["count"] == before + total and len(body["items"]) == before + total, body["count"]
        counts.append(len(captured.captured_queries))
    return counts[0], counts[1]


def paginated_list_operations() -> set[str]:
    """Operation ids of the API's GET operations that answer a page (``items`` and ``count``)."""
    from qslab.api import api

    schema = api.get_openapi_schema()
    components = schema.get("components", {}).get("schemas", {})
    out = set()
    for methods in schema["paths"].values():
        op = methods.get("get")
        if op is None:
            continue
        response = op.get("responses", {}).get(200) or op.get("responses", {}).get("200") or {}
        body = response.get("content", {}).get("application/json", {}).get("schema", {})
        if "$ref" in body:
            body = components.get(body["$ref"].rsplit("/", 1)[-1], {})
        if {"items", "count"} <= set(body.get("properties", {})):
            out.add(op["operationId"])
    return out


def paginated_url_names() -> set[str]:
    """Named HTML pages whose view splits its rows into pages with Django's ``Paginator``.

    Found by reading each view function's source: a list page is a view that builds a ``Paginator``.
    """
    import inspect

    names: set[str] = set()
    for name, pattern in _site_patterns():
        try:
            source = inspect.getsource(inspect.unwrap(pattern.callback))
        except (OSError, TypeError):
            continue
        if "Paginator(" in source:
            names.add(name)
    return names


def page_queries_at_two_sizes(
    client: Client, url: str, add_rows: Callable[[int], Iterable[str]], few: int = 3, many: int = 30
) -> tuple[int, int]:
    """The number of queries of one HTML list page with ``few`` rows added and then with ``many``.

    ``add_rows(n)`` adds n rows the client sees and returns, per row, a text the page shows for it (a
    name, a number). With ``few`` rows every text must be on the page; with ``many`` the page must show
    at least ten more of them (a page of 20 or 25 need not show all 30), so the two counts compare the
    same page listing 3 rows and listing many. A first request fills the caches.
    """
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    texts: list[str] = []
    counts = []
    client.get(url)
    for total in (few, many):
        texts += list(add_rows(total - (few if counts else 0)))
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url)
        assert response.status_code == 200, response.status_code
        body = response.content.decode()
        shown = [t for t in texts if t in body]
        if total == few:
            assert len(shown) == len(texts), f"{url}: rows not on the page: {sorted(set(texts) - set(shown))}"
        else:
            assert len(shown) >= few + 10, f"{url}: only {len(shown)} of {len(texts)} rows on the page"
        counts.append(len(captured.captured_queries))
    return counts[0], counts[1]


def at_once(
    calls: Mapping[str, Callable[[], Any]], refusals: tuple[type[BaseException], ...] = ()
) -> dict[str, str]:
    """Run each call in its own thread (so its own database connection), all released together, to
    provoke the race a PostgreSQL concurrency test is about; what each gave: ``"ok"``, ``"refused: ..."``
    for an exception in ``refusals`` (a ValidationError's messages joined), else ``"<Type>: <message>"``."""
    import threading

    from django.core.exceptions import ValidationError
    from django.db import connections

    barrier = threading.Barrier(len(calls))
    outcomes: dict[str, str] = {}

    def run(name: str, fn: Callable[[], Any]) -> None:
        try:
            barrier.wait()
            fn()
            outcomes[name] = "ok"
        except refusals as exc:
            text = " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
            outcomes[name] = f"refused: {text}"
        except Exception as exc:  # an unexpected error is the failure the test reports
            outcomes[name] = f"{type(exc).__name__}: {exc}"
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=item) for item in calls.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes
