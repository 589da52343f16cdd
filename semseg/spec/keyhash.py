"""The portable hash of an entity key: one function, the same in Python and in the SQL of
all 12 targets (docs/spec.md, "The portable hash"). ``verify --engine --sample`` picks its
keys with it on the engine, and a holdout split (``arm_of``) each key's arm.

``key_hash(salt, key)`` is the first 4 bytes of the MD5 digest of the UTF-8 bytes of
``salt + ":" + key_text(key)``, read big-endian: an integer in [0, 2^32). A key is in a
sample of fraction f when its hash is below ``threshold(f)``. MD5 is used because 11 of the
12 targets have it built in (SQLite has none: semseg registers one on its own connections);
it is not used for security, only to spread keys evenly and reproducibly.
"""

from __future__ import annotations

import hashlib

SCALE = 2**32
SAMPLE_SALT = "semseg-sample"  # the salt of verify --sample: one sample per fraction


def key_text(key: object) -> str:
    """The canonical text of a key: an integer in decimal (``-`` for a negative, no leading
    zeros or ``+``), a text as itself. Other types are refused: a float or a decimal has no
    one text on every engine, and a date key is rare enough to cast upstream."""
    if isinstance(key, bool) or not isinstance(key, int | str):
        raise TypeError(f"a hashed key is an integer or a text, not {type(key).__name__}")
    return str(key)


def md5_32(text: str) -> int:
    """The first 4 bytes of MD5 over ``text``'s UTF-8 bytes, big-endian."""
    return int.from_bytes(hashlib.md5(text.encode("utf-8")).digest()[:4], "big")


def key_hash(salt: str, key: object) -> int:
    return md5_32(f"{salt}:{key_text(key)}")


def threshold(fraction: float) -> int:
    """Hashes below this are in a sample of ``fraction`` (0 < fraction <= 1)."""
    if not 0 < fraction <= 1:
        raise ValueError("a sample fraction is in (0, 1]")
    return round(fraction * SCALE)


def arm_bounds(shares: list[float]) -> list[int]:
    """The hash bound below which each arm of a split ends, in order: ``round(2^32 * (s1 +
    ... + si))`` with the sum taken left to right in doubles, the last arm's 2^32 (so every
    hash has an arm whatever the rounding of the shares)."""
    bounds, total = [], 0.0
    for share in shares[:-1]:
        total += share
        bounds.append(min(round(total * SCALE), SCALE))
    return [*bounds, SCALE]


def arm_of(salt: str, key: object, arms: list[str], shares: list[float]) -> str:
    """The arm of ``key`` in the split ``salt`` (docs/spec.md, "Holdout splits")."""
    h = key_hash(salt, key)
    return next(arm for arm, bound in zip(arms, arm_bounds(shares), strict=True) if h < bound)
