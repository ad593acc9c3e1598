#!/usr/bin/env python3
"""Generate flowpbx's system prompts (voicemail menus, numbers, dates, confirmations) into
src/flowpbx/media/prompts/ with espeak-ng + sox, like scripts/make_samples.py does for the
built-in library samples. They are not library audio a flow picks; the runtime uses them
(pbx/features/say.py puts numbers, dates and times together from the word prompts).

Only missing files are written unless --force is given, so adding a prompt leaves the
committed ones byte for byte. Word prompts (numbers, days, months) are trimmed of
espeak-ng's leading and trailing silence, so that "twenty" "first" sounds like one word.

    .venv/bin/python scripts/make_prompts.py [--out DIR] [--force]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from make_samples import speak

NUMBERS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
TEENS = ["ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen"]
TEENS += ["seventeen", "eighteen", "nineteen"]
TENS = {20: "twenty", 30: "thirty", 40: "forty", 50: "fifty", 60: "sixty", 70: "seventy"}
TENS |= {80: "eighty", 90: "ninety"}
ORDINALS = ["first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth"]
ORDINALS += ["ninth", "tenth", "eleventh", "twelfth", "thirteenth", "fourteenth", "fifteenth"]
ORDINALS += ["sixteenth", "seventeenth", "eighteenth", "nineteenth"]
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august"]
MONTHS += ["september", "october", "november", "december"]

# Single words put together by pbx/features/say.py: trimmed (see the module docstring).
WORDS: dict[str, str] = {
    **{f"number-{10 + i}": word for i, word in enumerate(TEENS)},
    **{f"number-{n}": word for n, word in TENS.items()},
    **{f"ordinal-{i + 1}": word for i, word in enumerate(ORDINALS)},
    "ordinal-20": "twentieth",
    "ordinal-30": "thirtieth",
    **{f"day-{d}": d.capitalize() for d in WEEKDAYS},
    **{f"month-{m}": m.capitalize() for m in MONTHS},
    "hundred": "hundred",
    "received": "Received",
    "today": "today",
    "yesterday": "yesterday",
    "at": "at",
    "oh": "oh",
    "am": "A M",
    "pm": "P M",
}

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
    "mailbox-full": "This mailbox is full. Please try again later.",
    "mailbox-locked": "Too many wrong PINs. This mailbox is locked. Please try again later.",
    "queue-position": "You are caller number",
    **{f"number-{i}": word for i, word in enumerate(NUMBERS)},
}

OUT = Path(__file__).resolve().parent.parent / "src" / "flowpbx" / "media" / "prompts"


def trim(path: Path) -> None:
    """Cut leading and trailing silence (below -45 dB), keeping 30 ms on each side."""
    tmp = path.with_name(f".{path.name}.trim.wav")
    subprocess.run(
        [
            *("sox", "-D", str(path), str(tmp)),
            *("silence", "1", "0.02", "-45d", "reverse", "silence", "1", "0.02", "-45d"),
            *("reverse", "pad", "0.03", "0.03"),
        ],
        check=True,
        capture_output=True,
    )
    tmp.replace(path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--force", action="store_true", help="rewrite existing prompts too")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    written = 0
    for name, text in {**PROMPTS, **WORDS}.items():
        dst = args.out / f"{name}.wav"
        if dst.exists() and not args.force:
            continue
        speak(text, dst)
        if name in WORDS:
            trim(dst)
        written += 1
    print(f"{written} of {len(PROMPTS) + len(WORDS)} prompts written in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
