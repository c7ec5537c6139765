"""Who may do what: the only place role and ownership rules are written."""

from dataclasses import dataclass

from app.services.errors import Forbidden


@dataclass(frozen=True)
class Actor:
    """The signed-in user making a request."""

    id: int
    role: str
    session_id: int | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def require_role(actor: Actor, *roles: str) -> None:
    if actor.role not in roles:
        names = " or ".join(roles)
        article = "an" if names[0] in "aeiou" else "a"
        raise Forbidden(f"Only {article} {names} may do this")


def require_self_or_admin(actor: Actor, user_id: int) -> None:
    if actor.id != user_id and not actor.is_admin:
        raise Forbidden("You may only act on your own account")


def require_product_owner(actor: Actor, seller_id: int | None) -> None:
    require_role(actor, "seller")
    if seller_id != actor.id:
        raise Forbidden("Only the seller who created this product may change it")
