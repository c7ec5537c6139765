import os

import config
from app import create_app

CONFIGS = {"development": config.DevelopmentConfig, "production": config.ProductionConfig}

app = create_app(CONFIGS[os.environ.get("APP_CONFIG", "development")]())
