"""Short windows are worded in seconds, never as "0 minutes" (issue 22, notes)."""

from datetime import timedelta

import pytest

from app.models import Order
from app.models.columns import utcnow
from app.services import orders, wording


@pytest.mark.parametrize(("seconds", "said"), [
    (0, "0 seconds"), (1, "1 second"), (30, "30 seconds"), (60, "1 minute"), (90, "90 seconds"),
    (900, "15 minutes"), (3600, "60 minutes"), (7200, "2 hours"), (7260, "121 minutes"),
])
def test_durations_are_worded_as_people_say_them(seconds, said):
    assert wording.duration(seconds) == said


@pytest.mark.parametrize(("seconds", "said"), [
    (0.2, "1 second"), (29.1, "30 seconds"), (59, "59 seconds"), (60, "1 minute"), (119, "119 seconds"),
    (121, "3 minutes"), (3599, "60 minutes"),
])
def test_waits_are_rounded_up(seconds, said):
    assert wording.wait(seconds) == said


@pytest.mark.parametrize(("window", "said"), [(30, "30 seconds"), (90, "90 seconds"), (900, "15 minutes")])
def test_a_closed_refund_window_is_worded_exactly(window, said):
    order = Order(buyer_id=7, status="paid", refundable=True, created_at=utcnow() - timedelta(seconds=window + 1))
    assert orders.refund_refusal(order, 7, window) == f"Refunds are possible for {said} after purchase only"
