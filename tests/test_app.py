"""The application object itself (app/__init__.py)."""

import gc

import app as app_package


def test_ensure_sync_asks_once_per_function_and_still_wraps_coroutine_functions(app, monkeypatch):
    asked = []
    real = app_package.iscoroutinefunction
    monkeypatch.setattr(app_package, "iscoroutinefunction", lambda func: asked.append(func) or real(func))
    monkeypatch.setattr(app, "async_to_sync", lambda func: ("run to completion", func))

    def view():
        return "ok"

    assert app.ensure_sync(view) is view and app.ensure_sync(view) is view
    assert asked == [view]

    class View:
        def get(self):
            return "ok"

    first, second = View().get, View().get  # a new bound method with each view instance
    assert app.ensure_sync(first) is first and app.ensure_sync(second) is second
    assert len(asked) == 2  # one answer for the method's function

    async def coroutine_view():
        return "ok"

    assert app.ensure_sync(coroutine_view) == ("run to completion", coroutine_view)
    assert app.ensure_sync(coroutine_view) == ("run to completion", coroutine_view)
    assert len(asked) == 3


def test_ensure_sync_keeps_no_function_alive(app):
    def make():
        def per_call():
            return "ok"

        return per_call

    for _ in range(50):
        assert app.ensure_sync(make())() == "ok"
    gc.collect()
    assert not any(getattr(func, "__name__", "") == "per_call" for func in app._coroutine_functions.keys())
