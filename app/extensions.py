"""Flask extensions, created unbound and bound to an app in create_app. Third-party imports only."""

from flask_babel import Babel
from flask_bootstrap import Bootstrap5
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_smorest import Api
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
migrate = Migrate(render_as_batch=True, compare_type=True)
api = Api()
login_manager = LoginManager()
csrf = CSRFProtect()
bootstrap = Bootstrap5()
# Money and times in the reader's locale and zone: the pages' own filters (app/home/filters.py), not Babel's
# Jinja filters and gettext (the pages are in English).
babel = Babel(configure_jinja=False)
# Storage, enabled flag and in-memory fallback come from RATELIMIT_* config (see app/limits.py).
# No X-RateLimit-*/Retry-After on every reply: the limiter's Retry-After (its window's reset) would also overwrite
# the short Retry-After of a 503, telling a client to wait a minute for a busy password check. A 429 sets its own.
limiter = Limiter(key_func=get_remote_address, headers_enabled=False)
