"""gunicorn entry point for the bench: the app with ProductionConfig read from the environment."""

import config
from app import create_app

app = create_app(config.ProductionConfig())
