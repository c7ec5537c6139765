"""argon2id password hashing, inside the per-worker cap on expensive work (app.services.expensive). Tests use a
cheaper cost through configure(fast=True).

One argon2id computation (t=3, 64 MiB, 4 lanes) keeps every core of a small machine busy for a tenth of a
second or more: each one takes a slot of the cap, and a check beyond it is a 503 with Retry-After.
"""

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from app.services import expensive

_DEFAULT = PasswordHasher()  # argon2id, t=3, m=64 MiB, p=4
_FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)

_state = {"hasher": _DEFAULT}


def configure(fast: bool) -> None:
    _state["hasher"] = _FAST if fast else _DEFAULT


def hash_password(password: str) -> str:
    hasher = _state["hasher"]
    return expensive.run(hasher.hash, password)


def _verify(hasher: PasswordHasher, password_hash: str, password: str) -> bool:
    try:
        return hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def verify_password(password_hash: str, password: str) -> bool:
    return expensive.run(_verify, _state["hasher"], password_hash, password)


_DUMMY_HASH: dict[str, str] = {}


def burn_time_for_unknown_user(password: str) -> None:
    """Verify against a dummy hash so an unknown username costs as much as a wrong password."""
    hasher = _state["hasher"]
    key = repr(hasher)
    if key not in _DUMMY_HASH:
        _DUMMY_HASH[key] = hash_password("not-a-real-password")
    verify_password(_DUMMY_HASH[key], password)
