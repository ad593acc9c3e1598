from __future__ import annotations

from sqlalchemy import func, select

from flowpbx.store import models as m
from flowpbx.store.db import Store
from flowpbx.store.demo import DEMO_FLOW_NAME, load_demo, published_demo_credentials
from flowpbx.store.repos.extensions import compute_ha1


async def _counts(store: Store) -> dict[str, int]:
    async with store.sessions() as s:
        return {
            model.__tablename__: int(await s.scalar(select(func.count()).select_from(model)) or 0)
            for model in (m.Extension, m.Trunk, m.Number, m.Flow, m.FlowRevision, m.User)
        }


async def test_demo_company_is_complete(store: Store) -> None:
    demo = await load_demo(store)
    assert demo.admin == ("admin", "demo-admin")
    assert demo.phones[0] == ("101", "Alice", "demo-pass-101")
    cfg = await store.load_runtime_config()
    assert set(cfg.extensions) == {"101", "102", "103"}
    assert cfg.extensions["103"].supervisor and not cfg.extensions["101"].supervisor
    assert cfg.extensions["102"].ha1_md5 == compute_ha1("102", "flowpbx", "demo-pass-102")[0]
    trunk = cfg.trunks[0]
    assert (trunk.name, trunk.host, trunk.port, trunk.transport) == (
        "provider",
        "127.0.0.1",
        5070,
        "udp",
    )
    assert cfg.caller_id_list == ["+37167000001", "+37167000002"]
    flow = cfg.flows_by_did["+37167000001"]
    assert flow.flow_name == DEMO_FLOW_NAME and flow.revision == 1
    nodes = flow.document["nodes"]
    assert nodes["menu"]["next"]["1"] == "alice" and nodes["alice"]["params"] == {
        "extension": "101"
    }
    assert nodes["menu"]["next"]["timeout"] == "goodbye" == nodes["menu"]["next"]["invalid"]
    for name in ("greeting", "menu", "goodbye"):
        assert cfg.audio[name].is_file()
    admin = await store.authenticate("admin", "demo-admin")
    assert admin is not None and admin.role == "admin"


async def test_demo_is_idempotent(store: Store) -> None:
    await load_demo(store)
    before = await _counts(store)
    again = await load_demo(store)
    assert again.result.total_changes == 0
    assert await _counts(store) == before
    assert before == {
        "extensions": 3,
        "trunks": 1,
        "numbers": 2,
        "flows": 1,
        "flow_revisions": 1,
        "users": 1,
    }


async def test_published_demo_credentials_are_found_until_changed(store: Store) -> None:
    await load_demo(store)
    assert await published_demo_credentials(store) == (["101", "102", "103"], True)
    # an older release's demo password counts too
    await store.upsert_extension(number="101", name="Alice", password="demo-101")
    await store.upsert_extension(number="102", name="Bob", password="a-new-secret-102")
    await store.create_user("admin", "a-new-admin-password", "admin", replace=True)
    assert await published_demo_credentials(store) == (["101", "103"], False)
    for number in ("101", "103"):
        await store.upsert_extension(number=number, name="X", password=f"changed-{number}-pw")
    assert await published_demo_credentials(store) == ([], False)
