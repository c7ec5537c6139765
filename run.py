import sys

import config
from app import create_app

try:
    app = create_app(config.from_environment())
except config.ConfigError as error:  # one line naming the variable, not a traceback
    sys.exit(f"vending: {error}")
