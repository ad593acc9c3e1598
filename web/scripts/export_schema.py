"""Write the flow JSON Schema (flowpbx.flow.model.flow_json_schema) for the web editor.

Run from the repository root: ``.venv/bin/python web/scripts/export_schema.py``. The forms of
the editor are generated from this file, so the settings are never re-typed by hand.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from flowpbx.flow.model import flow_json_schema

OUT = Path(__file__).resolve().parents[1] / "src" / "generated" / "flow-schema.json"


def main() -> int:
    text = json.dumps(flow_json_schema(), indent=1, sort_keys=True) + "\n"
    if not OUT.exists() or OUT.read_text() != text:
        OUT.parent.mkdir(parents=True, exist_ok=True)
        OUT.write_text(text)
        print(f"wrote {OUT}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
