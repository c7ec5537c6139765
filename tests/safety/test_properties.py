"""Random sequences of money operations through the service layer never create or lose a coin.

For every coin kind: coins in the tubes + coins in escrow == coins loaded by the operator
(float and tube edits) + coins inserted by buyers - coins paid out (change, refunds, coin return).
After every step the audit is clean and no count is negative.
"""

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from app.extensions import db
from app.models import CoinTube, Product, User
from app.services import machine, orders, vending
from app.services.audit import run_audit
from app.services.coins import COINS, list_to_coins
from app.services.errors import ServiceError
from app.services.policy import Actor
from tests.factories import make_product

coin = st.sampled_from(COINS)
step = st.one_of(
    st.tuples(st.just("deposit"), st.integers(0, 1), coin),
    st.tuples(st.just("buy"), st.integers(0, 1), st.integers(0, 2), st.integers(1, 3)),
    st.tuples(st.just("reset"), st.integers(0, 1)),
    st.tuples(st.just("refund"), st.integers(0, 1), st.integers(0, 5)),
    st.tuples(st.just("tubes"), st.fixed_dictionaries({c: st.integers(0, 4) for c in COINS})),
)


def holdings() -> dict[int, int]:
    db.session.rollback()
    totals = {t.coin: t.count for t in db.session.scalars(select(CoinTube))}
    totals = {c: totals.get(c, 0) for c in COINS}
    for user in db.session.scalars(select(User)):
        for c, n in user.escrowed_coins.items():
            totals[c] += n
    return totals


def test_random_sequences_keep_every_coin_accounted_for(app, make_account, seller):
    buyers = [make_account("buyer") for _ in range(2)]
    admin = Actor(0, "admin")
    cfg = app.config
    products = [
        make_product(seller, cost=cost, amount_available=4, refundable=True).id for cost in (35, 65, 120)
    ]
    # a fresh machine: load the float so that every later movement goes through the ledger
    machine.get_tubes(admin, initial_float=cfg["INITIAL_FLOAT"])
    float_loaded = holdings()
    ledger_in = dict(float_loaded)  # coins the operator or buyers put in
    paid_out = dict.fromkeys(COINS, 0)
    order_ids: list[list[int]] = [[], []]

    @settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(step, min_size=1, max_size=12))
    # Always run one sequence that buys, refunds and resets: random ones may never afford a purchase.
    @example([("deposit", 0, 100), ("buy", 0, 0, 1), ("refund", 0, 0), ("deposit", 1, 50), ("reset", 1)])
    def run(steps):
        for op, who, *args in steps:
            if op == "tubes":
                counts = who
                before = holdings()
                machine.set_tubes(admin, counts, initial_float=cfg["INITIAL_FLOAT"])
                after = holdings()
                for c in COINS:
                    ledger_in[c] += after[c] - before[c]
                continue
            actor = buyers[who].actor
            try:
                if op == "deposit":
                    vending.deposit(actor, args[0], max_deposit=cfg["MAX_DEPOSIT_CENTS"])
                    ledger_in[args[0]] += 1
                elif op == "buy":
                    result = vending.buy(actor, products[args[0]], args[1], initial_float=cfg["INITIAL_FLOAT"])
                    order_ids[who].append(result.order.id)
                    for c, n in list_to_coins(result.change).items():
                        paid_out[c] += n
                elif op == "reset":
                    for c, n in list_to_coins(vending.reset(actor).change).items():
                        paid_out[c] += n
                elif op == "refund" and order_ids[who]:
                    order_id = order_ids[who][args[0] % len(order_ids[who])]
                    result = orders.refund(actor, order_id, window_seconds=cfg["REFUND_WINDOW_SECONDS"],
                                           initial_float=cfg["INITIAL_FLOAT"])
                    for c, n in list_to_coins(result.change).items():
                        paid_out[c] += n
            except ServiceError as error:
                assert error.http_status in (404, 409, 422), error.message
            now = holdings()
            for c in COINS:
                assert now[c] >= 0
                assert now[c] == ledger_in[c] - paid_out[c], (c, now, ledger_in, paid_out)
            report = run_audit()
            assert report.clean, report.render()
        db.session.rollback()
        for product in db.session.scalars(select(Product)):
            assert 0 <= product.amount_available <= product.units_stocked

    run()
    assert any(order_ids), "no sequence ever bought anything: the test exercised nothing"
