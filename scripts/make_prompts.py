#!/usr/bin/env python3
"""Generate flowpbx's system prompts (voicemail menus, numbers, confirmations) into
src/flowpbx/media/prompts/ with espeak-ng + sox, like scripts/make_samples.py does for the
built-in library samples. They are not library audio a flow picks; the runtime uses them.

    .venv/bin/python scripts/make_prompts.py [--out DIR]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from make_samples import speak

NUMBERS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]

PROMPTS: dict[str, str] = {
    "confirm-call": "You have a call. Press one to accept it.",
    "enter-pin": "Please enter your PIN, then press pound.",
    "wrong-pin": "That PIN is not correct.",
    "you-have": "You have",
    "new-messages": "new messages.",
    "old-messages": "old messages.",
    "no-messages": "You have no messages.",
    "message-deleted": "Message deleted.",
    "message-saved": "Message saved.",
    "no-more-messages": "No more messages.",
    "voicemail-help": (
        "Press one to play the message, five to repeat it, four for the previous message, "
        "six for the next message, seven to delete it, nine to save it, "
        "and pound to finish."
    ),
    "invalid-number": "That number is not valid.",
    **{f"number-{i}": word for i, word in enumerate(NUMBERS)},
}

OUT = Path(__file__).resolve().parent.parent / "src" / "flowpbx" / "media" / "prompts"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name, text in PROMPTS.items():
        speak(text, args.out / f"{name}.wav")
    print(f"{len(PROMPTS)} prompts in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
