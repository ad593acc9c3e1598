"""SRTP setting (issue 17: media_encryption) in the configuration file: stored, loaded into
the runtime configuration, exported, and bad values refused with the field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from flowpbx.store.config_io import export_config, import_config
from flowpbx.store.db import Store
from flowpbx.store.errors import ConfigError


def _doc(ext: dict[str, object], trunk: dict[str, object]) -> dict[str, object]:
    return {
        "extensions": [{"number": "101", "name": "A", "password": "long-s3cret-101", **ext}],
        "trunks": [{"name": "provider", "host": "127.0.0.1", **trunk}],
    }


async def test_media_encryption_round_trip(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    doc = _doc({"media_encryption": "required"}, {"media_encryption": "optional"})
    path.write_text(yaml.safe_dump(doc))
    await import_config(store, path)
    config = await store.load_runtime_config()
    assert config.extensions["101"].media_encryption == "required"
    assert config.trunks[0].media_encryption == "optional"
    exported = await export_config(store)
    assert exported["extensions"][0]["media_encryption"] == "required"
    assert exported["trunks"][0]["media_encryption"] == "optional"
    path.write_text(yaml.safe_dump(_doc({}, {})))
    await import_config(store, path)
    config = await store.load_runtime_config()
    assert config.extensions["101"].media_encryption == "none"
    assert config.trunks[0].media_encryption == "none"
    assert "media_encryption" not in (await export_config(store))["trunks"][0]


@pytest.mark.parametrize("where", ["ext", "trunk"])
async def test_bad_media_encryption_refused(store: Store, tmp_path: Path, where: str) -> None:
    path = tmp_path / "c.yaml"
    bad: dict[str, object] = {"media_encryption": "sometimes"}
    path.write_text(
        yaml.safe_dump(_doc(bad if where == "ext" else {}, bad if where == "trunk" else {}))
    )
    with pytest.raises(ConfigError, match="media_encryption"):
        await import_config(store, path)
