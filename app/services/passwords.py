"""argon2id password hashing. Tests use a cheaper cost through configure(fast=True)."""

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_DEFAULT = PasswordHasher()  # argon2id, t=3, m=64 MiB, p=4
_FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
_state = {"hasher": _DEFAULT}


def configure(fast: bool) -> None:
    _state["hasher"] = _FAST if fast else _DEFAULT


def hash_password(password: str) -> str:
    return _state["hasher"].hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _state["hasher"].verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


_DUMMY_HASH: dict[str, str] = {}


def burn_time_for_unknown_user(password: str) -> None:
    """Verify against a dummy hash so an unknown username costs as much as a wrong password."""
    hasher = _state["hasher"]
    key = repr(hasher)
    if key not in _DUMMY_HASH:
        _DUMMY_HASH[key] = hasher.hash("not-a-real-password")
    verify_password(_DUMMY_HASH[key], password)
