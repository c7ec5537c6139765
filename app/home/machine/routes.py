"""The buyer's machine: coins, buying, coin return, refunds, orders and receipts."""



from flask import (
    current_app,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required

from app import metrics
from app.extensions import db
from app.home import bp
from app.home.auth import (
    actor,
    role_required,
)
from app.home.common import PAGE_SIZE, coins_text, filter_view, order_list, read_filters
from app.home.filters import coin_label, money
from app.home.forms import ActionForm, OrderFilterForm
from app.home.machine.forms import BuyForm, DepositForm
from app.services import (
    operator,
    orders,
    products,
    storefront,
    vending,
)
from app.services.coins import COINS
from app.services.errors import ServiceError

RECENT_ORDERS = 5
RESULT_KEY = "last_result"
STATUS_KEY = "machine_status"
# The machine page's script (static/js/machine.js) asks for the changed parts of the page only.
LIVE_HEADER = "X-Live-Update"

# ---------------------------------------------------------------- buyer: the machine


def live_update() -> bool:
    return request.headers.get(LIVE_HEADER) == "machine"


def machine_view() -> dict:
    """Where the buyer is on the machine page (tile search and page), carried through every form."""
    q = (request.values.get("q") or "").strip()[: products.NAME_MAX]
    return {"q": q or None, "page": max(request.values.get("page", 1, type=int) or 1, 1)}


def machine_url() -> str:
    view = machine_view()
    return url_for("home.machine_page", q=view["q"], page=view["page"] if view["page"] > 1 else None)


def status(text: str, level: str, *, shown: bool = True) -> dict:
    """The machine's display line, announced to screen readers; `shown=False` when a card or the message next
    to a Buy button already says it on screen."""
    return {"text": text, "level": level, "shown": shown}


def render_machine(*, status_line: dict | None = None, result: dict | None = None, buy_form: BuyForm | None = None,
                   buy_error: str | None = None):
    """The machine page, or only its live parts for the page's script: the same service calls either way."""
    view = machine_view()
    escrow = vending.get_escrow(actor())
    config = current_app.config
    tiles = storefront.machine_tiles(deposit=escrow.deposit, q=view["q"], page=view["page"], page_size=PAGE_SIZE)
    recent = db.session.scalars(orders.visible_orders(actor()).limit(RECENT_ORDERS)).all()
    rows = []
    for order in recent:
        refusal = orders.refund_refusal(order, actor().id, config["REFUND_WINDOW_SECONDS"])
        rows.append({"order": order, "refusal": refusal, "can_refund": refusal is None})
    buy_on_page = buy_form is not None and any(t.product.id == buy_form.product_id.data for t in tiles.items)
    if status_line is not None and buy_form is not None and not buy_on_page:
        status_line["shown"] = True  # the tile with the Buy button is not on this page: say it up here
    context = {
        "escrow": escrow,
        "coins": COINS,
        "tiles": tiles,
        "view": view,
        "rows": rows,
        "result": result,
        "status": status_line,
        "buy_form": buy_form,
        "buy_error": buy_error,
        "short_of_change": operator.exact_change_only(config["INITIAL_FLOAT"]),
        "action": ActionForm(),
    }
    if live_update():
        response = make_response(render_template("machine/live.html", **context))
        response.headers["X-Fragment"] = "machine"
    else:
        response = make_response(render_template("machine.html", **context))
    response.vary.add(LIVE_HEADER)
    return response


def machine_outcome(status_line: dict, result: dict | None = None):
    """After a coin, a sale, a coin return or a refund: the live parts for the script, or (without
    JavaScript) a redirect to the page, which shows the outcome once."""
    if live_update():
        return render_machine(status_line=status_line, result=result)
    session[STATUS_KEY] = status_line
    if result is not None:
        session[RESULT_KEY] = result
    return redirect(machine_url())


@bp.route("/machine")
@role_required("buyer")
def machine_page():
    return render_machine(status_line=session.pop(STATUS_KEY, None), result=session.pop(RESULT_KEY, None))


@bp.route("/machine/deposit", methods=["POST"])
@role_required("buyer")
def deposit():
    form = DepositForm()
    if not form.validate_on_submit():
        return machine_outcome(status("; ".join(form.coin.errors) or "Choose a coin", "danger"))
    try:
        escrow = vending.deposit(actor(), form.coin.data, max_deposit=current_app.config["MAX_DEPOSIT_CENTS"])
    except ServiceError as error:
        return machine_outcome(status(error.message, "danger"))
    metrics.money_done("deposit", "web")
    return machine_outcome(status(f"Inserted {coin_label(form.coin.data)}. Deposit: {money(escrow.deposit)}.",
                                  "success"))


@bp.route("/machine/buy", methods=["POST"])
@role_required("buyer")
def buy():
    form = BuyForm()
    if not form.validate_on_submit():
        problems = [message for messages in form.errors.values() for message in messages]
        return render_machine(status_line=status("; ".join(problems), "danger", shown=False), buy_form=form)
    try:
        purchase = vending.buy(actor(), form.product_id.data, form.amount.data,
                               initial_float=current_app.config["INITIAL_FLOAT"],
                               expected_cost=form.expected_cost.data)
    except ServiceError as error:
        metrics.money_refused("buy", "web", error.message)
        return render_machine(status_line=status(error.message, "danger", shown=False), buy_form=form,
                              buy_error=error.message)
    metrics.money_done("buy", "web")
    order = purchase.order
    change = list(purchase.change)
    said = f"You bought {order.amount} × {order.product_name} for {money(order.total_spent)}. "
    said += f"Your change: {money(sum(change))} ({coins_text(change)})." if change else "No change."
    result = {"kind": "purchase", "order_id": order.id, "product": order.product_name, "amount": order.amount,
              "total": order.total_spent, "change": change}
    return machine_outcome(status(said, "success", shown=False), result)


@bp.route("/machine/reset", methods=["POST"])
@role_required("buyer")
def reset():
    if not ActionForm().validate_on_submit():
        return redirect(machine_url())
    returned = vending.reset(actor())
    metrics.money_done("reset", "web")
    change = list(returned.change)
    if not change:
        return machine_outcome(status("There were no coins to return.", "info"))
    said = f"Coin return: {money(sum(change))} given back ({coins_text(change)})."
    return machine_outcome(status(said, "info", shown=False), {"kind": "coin_return", "change": change})


@bp.route("/orders/<int:order_id>/refund", methods=["POST"])
@role_required("buyer")
def refund(order_id: int):
    if not ActionForm().validate_on_submit():
        return redirect(machine_url())
    try:
        result = orders.refund(
            actor(),
            order_id,
            window_seconds=current_app.config["REFUND_WINDOW_SECONDS"],
            initial_float=current_app.config["INITIAL_FLOAT"],
        )
    except ServiceError as error:
        metrics.money_refused("refund", "web", error.message)
        return machine_outcome(status(error.message, "danger"))
    metrics.money_done("refund", "web")
    paid = result.order.total_spent
    said = f"Order #{order_id} refunded: {money(paid)} paid back ({coins_text(list(result.change))})."
    return machine_outcome(status(said, "success", shown=False),
                           {"kind": "refund", "order_id": order_id, "product": result.order.product_name,
                            "total": paid, "change": list(result.change)})


@bp.route("/orders")
@role_required("buyer")
def buyer_orders():
    form = OrderFilterForm(formdata=request.args)
    history = order_list(read_filters(form), form)
    return render_template("orders.html", history=history, form=form, **filter_view(form))


@bp.route("/orders/<int:order_id>")
@login_required
def receipt(order_id: int):
    order = orders.get_order(actor(), order_id)
    refusal = orders.refund_refusal(order, actor().id, current_app.config["REFUND_WINDOW_SECONDS"])
    back = {"buyer": "home.buyer_orders", "seller": "home.seller_sales", "admin": "home.admin_orders"}
    return render_template("receipt.html", order=order, can_refund=refusal is None, action=ActionForm(),
                           back=url_for(back[current_user.role]))


