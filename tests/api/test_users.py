"""/api/v1/users over real HTTP on SQLite and PostgreSQL: list, create, delete, reset a
password; admin only; nobody deletes themselves or the last admin; bad input names the
field."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from flowpbx.store.db import Store
from flowpbx.store.errors import ConflictError
from flowpbx.store.records import UserRec
from flowpbx.store.repos import users as users_repo
from tests.api.conftest import bearer


async def login(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    r = await client.post("/api/v1/auth/login", json={"username": username, "password": password})
    client.cookies.clear()
    return r


async def test_admin_creates_lists_and_deletes_users(client: httpx.AsyncClient, token: str) -> None:
    h = bearer(token)
    r = await client.post(
        "/api/v1/users",
        json={"username": "reception", "password": "front-desk-1", "role": "viewer"},
        headers=h,
    )
    assert r.status_code == 201, r.text
    assert r.json()["username"] == "reception" and r.json()["role"] == "viewer"
    assert r.json()["created_at"]
    assert "password" not in r.text

    r = await client.get("/api/v1/users", headers=h)
    assert r.status_code == 200
    assert [(u["username"], u["role"]) for u in r.json()] == [
        ("admin", "admin"),
        ("reception", "viewer"),
    ]

    # the new user can sign in and read, but not write
    r = await login(client, "reception", "front-desk-1")
    assert r.status_code == 200, r.text
    viewer = bearer(r.json()["token"])
    assert (await client.get("/api/v1/extensions", headers=viewer)).status_code == 200
    r = await client.post(
        "/api/v1/users",
        json={"username": "x", "password": "1234567890", "role": "admin"},
        headers=viewer,
    )
    assert r.status_code == 403 and r.json()["error"]["id"] == "admin-only"

    # taken name: 409 naming the field
    r = await client.post(
        "/api/v1/users",
        json={"username": "reception", "password": "another-pw", "role": "admin"},
        headers=h,
    )
    assert r.status_code == 409, r.text
    assert r.json()["error"]["id"] == "user-exists"
    assert r.json()["error"]["details"][0]["path"] == "body.username"

    # deleting the user ends its session at once
    assert (await client.delete("/api/v1/users/reception", headers=h)).status_code == 204
    assert (await client.get("/api/v1/extensions", headers=viewer)).status_code == 401
    assert (await login(client, "reception", "front-desk-1")).status_code == 401
    r = await client.delete("/api/v1/users/reception", headers=h)
    assert r.status_code == 404 and r.json()["error"]["id"] == "user-not-found"
    names = [u["username"] for u in (await client.get("/api/v1/users", headers=h)).json()]
    assert names == ["admin"]


async def test_viewers_cannot_even_list_users(
    client: httpx.AsyncClient, token: str, viewer_token: str
) -> None:
    v = bearer(viewer_token)
    r = await client.get("/api/v1/users", headers=v)
    assert r.status_code == 403 and r.json()["error"]["id"] == "admin-only"
    assert (await client.get("/api/v1/users")).status_code == 401
    # nor delete anyone or set anyone's password, their own included
    r = await client.delete("/api/v1/users/admin", headers=v)
    assert r.status_code == 403 and r.json()["error"]["id"] == "admin-only"
    users = (await client.get("/api/v1/users", headers=bearer(token))).json()
    viewer = next(u["username"] for u in users if u["role"] == "viewer")
    for name in ("admin", viewer):
        r = await client.put(
            f"/api/v1/users/{name}/password", json={"password": "taken-over-1"}, headers=v
        )
        assert r.status_code == 403 and r.json()["error"]["id"] == "admin-only"
    after = (await client.get("/api/v1/users", headers=bearer(token))).json()
    assert after == users
    assert (await login(client, "admin", "taken-over-1")).status_code == 401


async def test_bad_input_is_422_naming_the_field(client: httpx.AsyncClient, token: str) -> None:
    h = bearer(token)
    cases = [
        ({"username": "ok-name", "password": "short", "role": "viewer"}, "body.password"),
        ({"username": "ok-name", "password": "long-enough", "role": "root"}, "body.role"),
        ({"username": "has space", "password": "long-enough", "role": "viewer"}, "body.username"),
        ({"username": "", "password": "long-enough", "role": "viewer"}, "body.username"),
        ({"password": "long-enough", "role": "viewer"}, "body.username"),
        (
            {"username": "a", "password": "long-enough", "role": "viewer", "admin": True},
            "body.admin",
        ),
    ]
    for body, path in cases:
        r = await client.post("/api/v1/users", json=body, headers=h)
        assert r.status_code == 422, (body, r.text)
        err = r.json()["error"]
        assert err["id"] == "invalid-request"
        assert [d["path"] for d in err["details"]] == [path], (body, err)
    r = await client.put("/api/v1/users/admin/password", json={"password": "short"}, headers=h)
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["path"] == "body.password"
    # the password policy (api/auth.py): not the user name
    r = await client.post(
        "/api/v1/users",
        json={"username": "frontdesk1", "password": "frontdesk1", "role": "viewer"},
        headers=h,
    )
    assert r.status_code == 422 and r.json()["error"]["id"] == "weak-password"
    assert r.json()["error"]["details"][0]["path"] == "body.password"
    r = await client.put(
        "/api/v1/users/nobody/password", json={"password": "long-enough"}, headers=h
    )
    assert r.status_code == 404 and r.json()["error"]["id"] == "user-not-found"
    names = [u["username"] for u in (await client.get("/api/v1/users", headers=h)).json()]
    assert names == ["admin"]


async def test_nobody_deletes_themselves_or_the_last_admin(
    store: Store, client: httpx.AsyncClient, token: str
) -> None:
    h = bearer(token)
    r = await client.delete("/api/v1/users/admin", headers=h)
    assert r.status_code == 409 and r.json()["error"]["id"] == "user-is-you"

    # a second admin may delete the first, but then is the last one and cannot go
    await store.create_user("deputy", "deputy-pass", "admin")
    deputy = bearer((await login(client, "deputy", "deputy-pass")).json()["token"])
    r = await client.delete("/api/v1/users/admin", headers=deputy)
    assert r.status_code == 204, r.text
    assert (await client.get("/api/v1/users", headers=h)).status_code == 401  # admin's session
    r = await client.delete("/api/v1/users/deputy", headers=deputy)
    assert r.status_code == 409 and r.json()["error"]["id"] == "user-is-you"
    r = await client.get("/api/v1/users", headers=deputy)
    assert [u["username"] for u in r.json()] == ["deputy"]


async def test_last_admin_rule_holds_whoever_asks(store: Store) -> None:
    """The store refuses to delete the last admin even for a caller that is not that admin
    (an API token of a user demoted meanwhile, a script)."""
    only = await store.create_user("boss", "boss-password", "admin")
    viewer = await store.create_user("guest", "guest-password", "viewer")
    async with store.transaction() as s:
        with pytest.raises(ConflictError, match="last admin"):
            await users_repo.delete_user(s, "boss", acting=viewer)
    async with store.sessions() as s:
        assert [u.username for u in await users_repo.list_users(s)] == ["boss", "guest"]
    assert only.role == "admin"


async def test_reset_password(store: Store, client: httpx.AsyncClient, token: str) -> None:
    h = bearer(token)
    await store.create_user("agent", "old-password", "viewer")
    agent = bearer((await login(client, "agent", "old-password")).json()["token"])
    r = await client.put(
        "/api/v1/users/agent/password", json={"password": "new-password"}, headers=h
    )
    assert r.status_code == 204, r.text
    assert (await client.get("/api/v1/extensions", headers=agent)).status_code == 401
    assert (await login(client, "agent", "old-password")).status_code == 401
    r = await login(client, "agent", "new-password")
    assert r.status_code == 200 and r.json()["user"] == {"username": "agent", "role": "viewer"}

    # an admin changing their own password stays signed in there; a session elsewhere
    # (say, a stolen one) ends
    elsewhere = bearer((await login(client, "admin", "admin-pass")).json()["token"])
    assert (await client.get("/api/v1/users", headers=elsewhere)).status_code == 200
    r = await client.put(
        "/api/v1/users/admin/password", json={"password": "admin-pass-2"}, headers=h
    )
    assert r.status_code == 204
    assert (await client.get("/api/v1/users", headers=h)).status_code == 200
    assert (await client.get("/api/v1/users", headers=elsewhere)).status_code == 401
    assert (await login(client, "admin", "admin-pass")).status_code == 401
    assert (await login(client, "admin", "admin-pass-2")).status_code == 200


async def test_cookie_writes_need_csrf(client: httpx.AsyncClient, token: str) -> None:
    r = await client.post(
        "/api/v1/auth/login", json={"username": "admin", "password": "admin-pass"}
    )
    csrf = r.json()["csrf_token"]
    body = {"username": "temp", "password": "temp-password", "role": "viewer"}
    r = await client.post("/api/v1/users", json=body)
    assert r.status_code == 403 and r.json()["error"]["id"] == "csrf-failed"
    r = await client.post("/api/v1/users", json=body, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201


async def test_two_admins_deleting_each_other_at_once_leave_one(store: Store) -> None:
    """Each admin deletes the other in its own transaction at the same moment: one wins,
    the other is refused as the last admin; never both."""
    a = await store.create_user("admin-a", "admin-a-pass", "admin")
    b = await store.create_user("admin-b", "admin-b-pass", "admin")

    async def delete(username: str, acting: UserRec) -> str:
        try:
            async with store.transaction() as s:
                await users_repo.delete_user(s, username, acting=acting)
        except ConflictError:
            return "refused"
        return "deleted"

    results = await asyncio.gather(delete("admin-b", a), delete("admin-a", b))
    assert sorted(results) == ["deleted", "refused"], results
    async with store.sessions() as s:
        left = await users_repo.list_users(s)
    assert len(left) == 1 and left[0].role == "admin"
