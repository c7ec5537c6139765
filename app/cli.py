"""flask create-admin, flask config, flask audit, flask purge-expired, flask seed-demo."""

import sys

import click
from flask import Flask

from app.services import audit, users
from app.services.errors import ServiceError

DEMO_ACCOUNTS = (
    ("admin", "admin-password", "admin"),
    ("seller", "seller-password", "seller"),
    ("buyer", "buyer-password", "buyer"),
)
DEMO_PRODUCTS = (
    ("Cola", 35, 20, True),
    ("Crisps", 65, 15, False),
    ("Chocolate bar", 120, 10, True),
    ("Water", 25, 30, False),
    ("Coffee", 150, 12, True),
)


def register(app: Flask) -> None:
    @app.cli.command("create-admin")
    @click.argument("username")
    @click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
    def create_admin(username: str, password_stdin: bool) -> None:
        """Create an operator (admin) account."""
        if password_stdin:
            password = sys.stdin.readline().rstrip("\n")
        else:
            password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
        try:
            user = users.register(username, password, "admin", allow_admin=True)
        except ServiceError as error:
            raise click.ClickException(error.message) from error
        click.echo(f"Created admin {user.username} (id {user.id})")

    @app.cli.command("config")
    def show_config() -> None:
        """Print the effective settings (environment variables), secrets masked, and where each came from."""
        import config

        rows = config.describe(config.load_settings())
        effective = {"DATABASE_URL": config.mask_url(app.config["SQLALCHEMY_DATABASE_URI"]),
                     "SESSION_COOKIE_SECURE": str(app.config["SESSION_COOKIE_SECURE"]),
                     "PASSWORD_CHECKS_PER_WORKER": str(app.config["PASSWORD_CHECKS_PER_WORKER"])}
        width = max(len(name) for name, _, _ in rows)
        for name, shown, source in rows:
            if name in effective and source == "default":
                shown, source = effective[name], "default, as in effect"
            click.echo(f"{name:<{width}}  {shown}  ({source})")

    @app.cli.command("audit")
    def run_audit() -> None:
        """Check that every cent and every item is accounted for; exit 1 on any breach."""
        report = audit.run_audit()
        click.echo(report.render())
        if not report.clean:
            sys.exit(1)

    @app.cli.command("purge-expired")
    def purge_expired() -> None:
        """Delete expired idempotency keys and sessions (the app also does it by itself, a batch a minute)."""
        from app.services import maintenance

        total = {"idempotency_keys": 0, "sessions": 0}
        while True:
            purged = maintenance.purge_expired()
            for name, count in purged.items():
                total[name] += count
            if not any(purged.values()):
                break
        click.echo(f"Deleted {total['idempotency_keys']} expired idempotency keys "
                   f"and {total['sessions']} expired sessions")

    @app.cli.command("seed-demo")
    def seed_demo() -> None:
        """Create the demo accounts and products once (does nothing if they exist)."""
        from sqlalchemy import select

        from app.extensions import db
        from app.models import User
        from app.services import products
        from app.services.policy import Actor

        if db.session.scalar(select(User.id).where(User.username_key == "seller")) is not None:
            click.echo("Demo data already loaded.")
        else:
            created = {}
            for username, password, role in DEMO_ACCOUNTS:
                created[role] = users.register(username, password, role, allow_admin=True).id
            seller = Actor(created["seller"], "seller")
            for name, cost, stock, refundable in DEMO_PRODUCTS:
                products.create_product(
                    seller, {"product_name": name, "cost": cost, "amount_available": stock, "refundable": refundable}
                )
            click.echo("Demo data loaded.")
        click.echo("Demo accounts (username / password):")
        for username, password, role in DEMO_ACCOUNTS:
            click.echo(f"  {role:6}  {username} / {password}")
