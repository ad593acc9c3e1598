"""Property tests: parsers fail only with their own, documented errors."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from flowpbx.flow.dialstring import DialStringError, parse_dialstring
from flowpbx.flow.model import FlowError, load_flow
from flowpbx.flow.validate import validate_flow
from tests.flow.helpers import FakeDirectory

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=12,
)
node = st.fixed_dictionaries(
    {"type": st.sampled_from(["numbers", "play", "menu", "call_sip", "hangup", "bogus"])},
    optional={
        "params": st.dictionaries(
            st.sampled_from(["audio", "prompt", "extension", "x"]), json_values, max_size=2
        ),
        "next": st.dictionaries(
            st.sampled_from(["next", "1", "timeout", "zz"]),
            st.sampled_from(["a", "b", "c", None]),
            max_size=3,
        ),
    },
)
documents = st.fixed_dictionaries(
    {
        "name": st.text(max_size=5),
        "entry": st.sampled_from(["a", "b", "zz"]),
        "nodes": st.dictionaries(st.sampled_from(["a", "b", "c"]), node, max_size=3),
    },
)


@given(st.text(max_size=30))
def test_dialstring_fails_only_with_dialstring_error(text: str) -> None:
    try:
        target = parse_dialstring(text, is_extension={"101"}.__contains__)
    except DialStringError:
        return
    assert target.kind in ("extension", "did", "external", "spy", "voicemail")


@given(documents)
def test_load_and_validate_never_crash(doc: dict[str, Any]) -> None:
    try:
        load_flow(doc)
    except FlowError as exc:
        assert exc.problems
    report = validate_flow(doc, FakeDirectory())
    assert all(p.code for p in report.errors + report.warnings)
