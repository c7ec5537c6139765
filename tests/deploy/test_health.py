"""GET /healthz: 200 when the database answers SELECT 1, 503 JSON when it does not."""

UNREACHABLE = "postgresql+psycopg://postgres@127.0.0.1:1/x"


def test_healthy_when_the_database_answers(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok"}
    assert response.headers["Cache-Control"] == "no-store"


def test_unavailable_when_the_database_does_not_answer(make_app):
    app = make_app(
        SQLALCHEMY_DATABASE_URI=UNREACHABLE,
        SQLALCHEMY_ENGINE_OPTIONS={"connect_args": {"connect_timeout": 2}},
    )
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.is_json
    assert response.get_json() == {"status": "unavailable", "database": "unreachable"}
    assert response.headers["Retry-After"] == "5"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_health_is_get_only(client):
    response = client.post("/healthz")
    assert response.status_code == 405
    assert response.is_json
    assert response.get_json()["code"] == 405
