"""Ceiling (a): a bare Flask app answering with the catalogue page's exact bytes, held in memory.

Served by the same gunicorn settings and driven by the same wrk scripts as the real app, so the
ratio app/ceiling says how much of the framework's best case the app keeps.
"""

import os
from pathlib import Path

from flask import Flask, Response


def create_app() -> Flask:
    app = Flask(__name__)
    body = Path(os.environ["BENCH_CEILING_BODY"]).read_bytes()
    pagination = os.environ.get("BENCH_CEILING_PAGINATION", "")

    @app.get("/api/v1/products")
    @app.get("/api/v1/users/me")
    def page() -> Response:
        response = Response(body, mimetype="application/json")
        response.headers["X-Pagination"] = pagination
        return response

    return app
