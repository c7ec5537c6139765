"""The buyer's machine: coins, buying, coin return, refunds, orders and receipts."""

import functools
from urllib.parse import urlsplit

from flask import (
    current_app,
    flash,
    get_flashed_messages,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required
from werkzeug.exceptions import HTTPException

from app import metrics
from app.extensions import db
from app.home import bp, resume
from app.home.auth import (
    actor,
    login_link,
    role_required,
    safe_next,
    this_page,
)
from app.home.common import PAGE_SIZE, coins_text, filter_view, order_list, read_filters
from app.home.filters import coin_label, money
from app.home.forms import ActionForm, OrderFilterForm, SearchForm
from app.home.machine.forms import BuyForm, DepositForm, RefundForm
from app.services import (
    operator,
    orders,
    products,
    storefront,
    vending,
)
from app.services.coins import COINS
from app.services.errors import InvalidInput, ServiceError

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
    search = SearchForm(formdata=request.values)
    return {"q": search.text(products.NAME_MAX), "page": max(request.values.get("page", 1, type=int) or 1, 1),
            "search": search}


def machine_url() -> str:
    view = machine_view()
    return url_for("home.machine_page", q=view["q"], page=view["page"] if view["page"] > 1 else None)


def status(text: str, level: str, *, shown: bool = True) -> dict:
    """The machine's display line, announced to screen readers; `shown=False` when a card or the message next
    to a Buy button already says it on screen."""
    return {"text": text, "level": level, "shown": shown}


def order_rows(items) -> list[dict]:
    """Orders with whether the buyer may refund each now, and until when."""
    window = current_app.config["REFUND_WINDOW_SECONDS"]
    return [{"order": order, "offer": orders.refund_offer(order, actor().id, window)} for order in items]


def render_machine(*, status_line: dict | None = None, result: dict | None = None, buy_form: BuyForm | None = None,
                   buy_error: str | None = None, amount_invalid: bool = False):
    """The machine page, or only its live parts for the page's script: the same service calls either way.

    `buy_error` is a refused buy's reason, shown at its Buy button; `amount_invalid` when the quantity typed is
    the cause (not a number, or more than is left), the only case its field is marked."""
    view = machine_view()
    escrow = vending.get_escrow(actor())
    initial_float = current_app.config["INITIAL_FLOAT"]
    tiles = storefront.machine_tiles(escrow, initial_float=initial_float, q=view["q"], page=view["page"],
                                     page_size=PAGE_SIZE)
    recent = db.session.scalars(orders.visible_orders(actor()).limit(RECENT_ORDERS)).all()
    buy_on_page = buy_form is not None and any(t.product.id == buy_form.product_id.data for t in tiles.items)
    if status_line is not None and buy_form is not None and not buy_on_page:
        status_line["shown"] = True  # the tile with the Buy button is not on this page: say it up here
    context = {
        "escrow": escrow,
        "coins": COINS,
        "tiles": tiles,
        "view": view,
        "here": machine_url(),
        "rows": order_rows(recent),
        "result": result,
        "status": status_line,
        "buy_form": buy_form,
        "buy_error": buy_error,
        "amount_invalid": amount_invalid,
        "short_of_change": operator.exact_change_only(initial_float),
    }
    if live_update():
        response = make_response(render_template("machine/live.html", **context))
        response.headers["X-Fragment"] = "machine"
    else:
        response = make_response(render_template("machine.html", **context))
    response.vary.add(LIVE_HEADER)
    return response


def machine_outcome(status_line: dict, result: dict | None = None, page: str | None = None):
    """After a coin, a sale, a coin return or a refund: the live parts for the script, or (without
    JavaScript) a redirect to the page, which shows the outcome once."""
    if live_update():
        return render_machine(status_line=status_line, result=result)
    session[STATUS_KEY] = status_line
    if result is not None:
        session[RESULT_KEY] = result
    return redirect(page or machine_url())


def signed_out(undone: str, *, keep: bool):
    """The answer to the page's script when the session has ended: the status line says what did not happen,
    with a link to log in that comes back to this page. With `keep`, what the form held is kept for afterwards
    (a quantity typed; a coin or a button press holds nothing to keep)."""
    if keep:
        resume.keep_form()
    get_flashed_messages()  # the session's end is said here, in place: the login page need not repeat it
    response = make_response(render_template("machine/signed_out.html", undone=undone,
                                             login=login_link(machine_url())), 401)
    response.headers["X-Fragment"] = "machine"
    response.headers["Cache-Control"] = "no-store"
    response.vary.add(LIVE_HEADER)
    return response


def machine_action(undone: str, *, keep: bool = False):
    """A buyer's action on the machine page; `undone` says what did not happen when the session has ended
    ("that coin was not inserted"), in place (`signed_out`). Without the page's script, Flask-Login's handler
    sends the visitor to log in (app.home.auth.ask_to_log_in)."""

    def decorator(view):
        guarded = role_required("buyer")(view)

        @functools.wraps(view)
        def action(*args, **kwargs):
            if live_update() and not current_user.is_authenticated:
                return signed_out(undone, keep=keep)
            return guarded(*args, **kwargs)

        return action

    return decorator


@bp.route("/machine")
@role_required("buyer")
def machine_page():
    buy_form = None
    kept = resume.take("home.buy")
    if kept is not None:
        buy_form = BuyForm(formdata=kept)
    return render_machine(status_line=session.pop(STATUS_KEY, None), result=session.pop(RESULT_KEY, None),
                          buy_form=buy_form)


@bp.route("/machine/deposit", methods=["POST"])
@machine_action("that coin was not inserted")
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


def blames_amount(error: ServiceError) -> bool:
    """Whether a refused buy's cause is the quantity typed (and not the deposit, the price or the tubes)."""
    return isinstance(error, vending.NotEnoughStock) or (isinstance(error, InvalidInput) and error.field == "amount")


@bp.route("/machine/buy", methods=["POST"])
@machine_action("nothing was bought", keep=True)
def buy():
    form = BuyForm()
    if not form.validate_on_submit():
        problem = "; ".join(message for messages in form.errors.values() for message in messages)
        return render_machine(status_line=status(problem, "danger", shown=False), buy_form=form, buy_error=problem,
                              amount_invalid=bool(form.amount.errors))
    try:
        purchase = vending.buy(actor(), form.product_id.data, form.amount.data,
                               initial_float=current_app.config["INITIAL_FLOAT"],
                               expected_cost=form.expected_cost.data)
    except ServiceError as error:
        metrics.money_refused("buy", "web", error.message)
        return render_machine(status_line=status(error.message, "danger", shown=False), buy_form=form,
                              buy_error=error.message, amount_invalid=blames_amount(error))
    metrics.money_done("buy", "web")
    order = purchase.order
    change = list(purchase.change)
    said = f"You bought {order.amount} × {order.product_name} for {money(order.total_spent)}. "
    said += f"Your change: {money(sum(change))} ({coins_text(change)})." if change else "No change."
    result = {"kind": "purchase", "order_id": order.id, "product": order.product_name, "amount": order.amount,
              "total": order.total_spent, "change": change}
    return machine_outcome(status(said, "success", shown=False), result)


@bp.route("/machine/reset", methods=["POST"])
@machine_action("no coins were returned")
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


def is_machine_page(page: str) -> bool:
    try:
        endpoint, _args = current_app.create_url_adapter(request).match(urlsplit(page).path, method="GET")
    except HTTPException:
        return False
    return endpoint == "home.machine_page"


def refund_outcome(back: str, status_line: dict, result: dict | None = None):
    """After a refund (or its refusal), the buyer stays where they were: the machine page (in place with its
    script, else with the outcome's card once), or a list or a receipt with the outcome as a message."""
    if live_update() or is_machine_page(back):
        return machine_outcome(status_line, result, page=back)
    flash(status_line["text"], status_line["level"])
    return redirect(back)


@bp.route("/orders/<int:order_id>/refund", methods=["GET", "POST"])
@machine_action("nothing was refunded")
def refund(order_id: int):
    """GET: the confirmation (the page to come back to in `next`); POST: the refund, confirmed."""
    form = RefundForm()
    window = current_app.config["REFUND_WINDOW_SECONDS"]
    if request.method == "GET":
        back = safe_next(request.args.get("next"), default="home.buyer_orders")
        order = orders.get_order(actor(), order_id)
        offer = orders.refund_offer(order, actor().id, window)
        if not offer.open:
            return refund_outcome(back, status(offer.refusal, "warning"))
        form.next.data = back
        return render_template("machine/refund.html", order=order, offer=offer, form=form, back=back)
    back = safe_next(form.next.data, default="home.buyer_orders") if form.next.data else machine_url()
    if not form.validate_on_submit():
        return redirect(back)
    try:
        result = orders.refund(actor(), order_id, window_seconds=window,
                               initial_float=current_app.config["INITIAL_FLOAT"])
    except ServiceError as error:
        metrics.money_refused("refund", "web", error.message)
        return refund_outcome(back, status(error.message, "danger"))
    metrics.money_done("refund", "web")
    paid = result.order.total_spent
    said = f"Order #{order_id} refunded: {money(paid)} paid back ({coins_text(list(result.change))})."
    return refund_outcome(back, status(said, "success", shown=False),
                          {"kind": "refund", "order_id": order_id, "product": result.order.product_name,
                           "total": paid, "change": list(result.change)})


@bp.route("/orders")
@role_required("buyer")
def buyer_orders():
    form = OrderFilterForm(formdata=request.args)
    history = order_list(read_filters(form), form)
    return render_template("orders.html", history=history, rows=order_rows(history.items), form=form,
                           here=this_page(), **filter_view(form))


@bp.route("/orders/<int:order_id>")
@login_required
def receipt(order_id: int):
    order = orders.get_order(actor(), order_id)
    offer = orders.refund_offer(order, actor().id, current_app.config["REFUND_WINDOW_SECONDS"])
    back = {"buyer": "home.buyer_orders", "seller": "home.seller_sales", "admin": "home.admin_orders"}
    return render_template("receipt.html", order=order, offer=offer, here=this_page(),
                           back=url_for(back[current_user.role]))
