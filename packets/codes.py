"""Packet codes: 16 symbols of Crockford base32 (80 random bits), shown as XXXX-XXXX-XXXX-XXXX.

Unguessable (2^80), human-typable (no I, L, O, U), and forgiving when typed back: case, spaces and dashes are
ignored, and O/I/L read as 0/1/1.
"""

import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
LENGTH = 16
_TYPOS = str.maketrans({"O": "0", "I": "1", "L": "1"})


def new_code() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    return "-".join(raw[i : i + 4] for i in range(0, LENGTH, 4))


def normalize(typed: str) -> str | None:
    """The canonical code for what a person typed, or None when it cannot be a code."""
    cleaned = "".join(typed.split()).replace("-", "").upper().translate(_TYPOS)
    if len(cleaned) != LENGTH or any(ch not in ALPHABET for ch in cleaned):
        return None
    return "-".join(cleaned[i : i + 4] for i in range(0, LENGTH, 4))
