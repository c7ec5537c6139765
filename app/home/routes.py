"""Thin views: validate the form, call a service, show the outcome (flash and redirect, or render)."""

from dataclasses import replace
from datetime import UTC, datetime

from flask import (
    Response,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    session,
    stream_with_context,
    url_for,
)
from flask_login import current_user, login_required, logout_user
from werkzeug.exceptions import RequestEntityTooLarge

from app import metrics
from app.data import pages
from app.extensions import csrf, db
from app.home import bp
from app.home.auth import (
    actor,
    forget_browser_session,
    open_web_session,
    role_required,
    safe_next,
    start_browser_session,
    web_login,
)
from app.home.filters import coin_label, money
from app.home.forms import (
    ActionForm,
    BuyForm,
    CollectForm,
    DepositForm,
    ImageForm,
    LoginForm,
    LowLevelsForm,
    OrderFilterForm,
    ProductForm,
    RefillForm,
    RegisterForm,
    RestockForm,
    TubesForm,
)
from app.limits import login_limit_per_address, login_limit_per_username, registration_limit
from app.services import (
    devices,
    images,
    machine,
    operator,
    orders,
    products,
    reports,
    sessions,
    stock,
    storefront,
    users,
    vending,
)
from app.services.coins import COINS
from app.services.errors import ServiceError
from app.services.policy import require_product_owner

PAGE_SIZE = 12
RECENT_ORDERS = 5
RESULT_KEY = "last_result"
STATUS_KEY = "machine_status"
# The machine page's script (static/js/machine.js) asks for the changed parts of the page only.
LIVE_HEADER = "X-Live-Update"
# Service field names (API spelling) -> form field names.
FIELD_NAMES = {"productName": "product_name", "amountAvailable": "amount_available", "product_id": "product_id",
               "lowStockAt": "low_stock_at"}
FIELD_NAMES.update({str(coin): f"c{coin}" for coin in COINS})


def show_error(error: ServiceError, form=None) -> None:
    """Put a service refusal next to its field when the form has it, else in a flash message."""
    placed = False
    for name, messages in (error.errors or {}).items():
        field = getattr(form, FIELD_NAMES.get(name, name), None) if form is not None else None
        if field is not None and hasattr(field, "errors"):
            field.errors = [*list(field.errors), *messages]
            placed = True
    if not placed:
        flash(error.message, "danger")


def page_number(name: str = "page") -> int:
    return max(request.args.get(name, 1, type=int) or 1, 1)


def paginate(stmt, name: str = "page"):
    return pages.paginate(stmt, page=page_number(name), page_size=PAGE_SIZE)


def coins_text(coins: list[int]) -> str:
    """50¢, 5¢ (for messages; the pages draw the coins)."""
    return ", ".join(coin_label(coin) for coin in coins)


def read_filters(form: OrderFilterForm, *, seller_by_name: bool = False) -> orders.OrderFilters | None:
    """The order list's filters from the query string, or None (the errors are on the form's fields)."""
    if not form.validate():
        return None
    seller_id = None
    if seller_by_name and form.seller.data:
        try:
            seller_id = operator.seller_id_by_name(actor(), form.seller.data)
        except ServiceError as error:
            show_error(error, form)
            return None
    return orders.OrderFilters(since=form.since.data, until=form.until.data, seller_id=seller_id,
                               product_id=form.product.data, status=form.status.data or None)


def in_window(filters: orders.OrderFilters | None, form: OrderFilterForm, *, default_days: int):
    """The filters with their date range filled in (the last `default_days` days unless asked otherwise), shown
    on the form: totals come from the running aggregate over the range, so a page costs the same at any size of
    history. None (the error on the form) for a range the reports refuse."""
    if filters is None:
        return None
    try:
        since, until = reports.date_range(filters.since, filters.until, today=datetime.now(UTC).date(),
                                          default_days=default_days)
    except ServiceError as error:
        show_error(error, form)
        return None
    form.since.data, form.until.data = since, until
    return replace(filters, since=since, until=until)


def filter_args(form: OrderFilterForm) -> dict:
    """The filters as query arguments, for the Older/Newer and CSV links (with the date range shown)."""
    args = {name: request.args.get(name) for name in ("seller", "product", "status")}
    for name in ("since", "until"):
        day = getattr(form, name).data
        args[name] = day.isoformat() if day else None
    return {name: value for name, value in args.items() if value} if not form.errors else {}


def order_list(filters: orders.OrderFilters | None, form: OrderFilterForm):
    """A keyset page of the actor's orders (newest first) and the totals of the filtered list."""
    if filters is None:
        return pages.KeysetPage([], None, None), None
    try:
        page = orders.order_page(actor(), filters, cursor=request.args.get("cursor") or None, size=PAGE_SIZE)
        return page, orders.order_totals(actor(), filters)
    except ServiceError as error:
        show_error(error, form)
        return pages.KeysetPage([], None, None), None


def csv_download(filters: orders.OrderFilters, name: str) -> Response:
    """Every order of the filtered list as CSV, streamed a batch at a time."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
    lines = reports.csv_lines(orders.export_orders(actor(), filters))
    return Response(stream_with_context(lines), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}-{stamp}.csv"'})


# ---------------------------------------------------------------- catalogue


@bp.route("/")
def catalogue():
    q = request.args.get("q", "").strip()[: products.NAME_MAX]
    page = paginate(products.catalogue(q=q or None))
    return render_template("catalogue.html", page=page, q=q)


# ---------------------------------------------------------------- accounts


@bp.route("/register", methods=["GET", "POST"])
@registration_limit
def register():
    if current_user.is_authenticated:
        return redirect(url_for("home.catalogue"))
    form = RegisterForm()
    if form.validate_on_submit():
        try:
            user = users.register(form.username.data, form.password.data, form.role.data)
        except ServiceError as error:
            show_error(error, form)
        else:
            # The password was just hashed: open the session directly instead of verifying it again.
            result = open_web_session(user.id)
            start_browser_session(result)
            flash(f"Welcome, {result.user.username}! Your {result.user.role} account is ready.", "success")
            return redirect(url_for("home.dashboard"))
    return render_template("auth/register.html", form=form)


@bp.route("/login", methods=["GET", "POST"])
@login_limit_per_address
@login_limit_per_username
def login():
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    if form.validate_on_submit():
        try:
            result = web_login(form.username.data, form.password.data)
        except ServiceError as error:
            form.password.errors = [*list(form.password.errors), error.message]
        else:
            start_browser_session(result)
            flash(f"Logged in as {result.user.username}.", "success")
            if result.message:
                flash(result.message, "active-session")
            target = form.next.data or url_for("home.dashboard")
            return redirect(safe_next(target))
    return render_template("auth/login.html", form=form)


@bp.route("/logout", methods=["POST"])
def logout():
    if ActionForm().validate_on_submit() and current_user.is_authenticated:
        try:
            sessions.end_session(actor(), actor().session_id)
        except ServiceError:
            pass  # already ended elsewhere: logging out is still the outcome
    logout_user()
    forget_browser_session()
    flash("You have been logged out.", "info")
    return redirect(url_for("home.catalogue"))


@bp.route("/home")
@login_required
def dashboard():
    target = {"buyer": "home.machine_page", "seller": "home.seller_products", "admin": "home.admin_tubes"}
    return redirect(url_for(target.get(current_user.role, "home.catalogue")))


@bp.route("/sessions")
@login_required
def sessions_page():
    current = actor().session_id
    rows = [
        {"row": s, "current": s.id == current, "device": devices.device_name(s.user_agent)}
        for s in sessions.list_sessions(actor())
    ]
    return render_template("sessions.html", rows=rows, form=ActionForm())


@bp.route("/sessions/<int:session_id>/end", methods=["POST"])
@login_required
def end_session(session_id: int):
    if ActionForm().validate_on_submit():
        if session_id == actor().session_id:
            return logout()
        try:
            sessions.end_session(actor(), session_id)
            flash("That session has been ended.", "success")
        except ServiceError as error:
            show_error(error)
    return redirect(url_for("home.sessions_page"))


@bp.route("/sessions/end-others", methods=["POST"])
@login_required
def end_other_sessions():
    if ActionForm().validate_on_submit():
        ended = sessions.end_all_sessions(actor().id, except_session_id=actor().session_id)
        flash(f"Ended {ended} other session{'s' if ended != 1 else ''}.", "success")
    return redirect(url_for("home.sessions_page"))


@bp.route("/sessions/end-all", methods=["POST"])
@login_required
def end_all_sessions():
    if ActionForm().validate_on_submit():
        ended = sessions.end_all_sessions(actor().id)
        logout_user()
        forget_browser_session()
        flash(f"Logged out everywhere: {ended} session{'s' if ended != 1 else ''} ended, API tokens included.", "info")
        return redirect(url_for("home.login"))
    return redirect(url_for("home.sessions_page"))


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
    history, _totals = order_list(read_filters(form), form)
    return render_template("orders.html", history=history, form=form, args=filter_args(form))


@bp.route("/orders/<int:order_id>")
@login_required
def receipt(order_id: int):
    order = orders.get_order(actor(), order_id)
    refusal = orders.refund_refusal(order, actor().id, current_app.config["REFUND_WINDOW_SECONDS"])
    back = {"buyer": "home.buyer_orders", "seller": "home.seller_sales", "admin": "home.admin_orders"}
    return render_template("receipt.html", order=order, can_refund=refusal is None, action=ActionForm(),
                           back=url_for(back[current_user.role]))


# ---------------------------------------------------------------- seller


def own_product(product_id: int):
    """The seller's product, or the service's NotFound / Forbidden."""
    product = products.get_product(product_id)
    require_product_owner(actor(), product.seller_id)
    return product


@bp.route("/seller/products")
@role_required("seller")
def seller_products():
    page = paginate(products.catalogue(seller_id=actor().id))
    rows = [{"product": p, "low": stock.is_low(p)} for p in page.items]
    return render_template("seller/products.html", page=page, rows=rows, restock=RestockForm(), action=ActionForm())


@bp.route("/seller/products/new", methods=["GET", "POST"])
@role_required("seller")
def product_create():
    form = ProductForm()
    if form.validate_on_submit():
        try:
            product = products.create_product(actor(), form.fields_dict())
            if form.low_stock_at.data is not None:
                stock.set_low_stock_at(actor(), product.id, form.low_stock_at.data)
        except ServiceError as error:
            show_error(error, form)
        else:
            flash(f"“{product.product_name}” is on sale at {money(product.cost)}. Add a picture?", "success")
            return redirect(url_for("home.product_image", product_id=product.id))
    return render_template("seller/product_form.html", form=form, product=None)


@bp.route("/seller/products/<int:product_id>/edit", methods=["GET", "POST"])
@role_required("seller")
def product_edit(product_id: int):
    product = own_product(product_id)
    form = ProductForm(obj=product)
    if form.validate_on_submit():
        try:
            product = products.update_product(actor(), product_id, form.fields_dict())
            if form.low_stock_at.data is not None:
                product = stock.set_low_stock_at(actor(), product_id, form.low_stock_at.data)
        except ServiceError as error:
            show_error(error, form)
        else:
            flash(f"“{product.product_name}” saved: {money(product.cost)}, {product.amount_available} in stock.",
                  "success")
            return redirect(url_for("home.seller_products"))
    return render_template("seller/product_form.html", form=form, product=product)


@bp.route("/seller/products/<int:product_id>/restock", methods=["POST"])
@role_required("seller")
def product_restock(product_id: int):
    form = RestockForm()
    if form.validate_on_submit():
        try:
            product = products.restock(actor(), product_id, form.units.data)
            flash(f"Restocked “{product.product_name}”: {product.amount_available} in stock.", "success")
        except ServiceError as error:
            show_error(error)
    else:
        flash("Enter how many units to add.", "danger")
    return redirect(url_for("home.seller_products"))


@bp.route("/seller/products/<int:product_id>/delete", methods=["GET", "POST"])
@role_required("seller")
def product_delete(product_id: int):
    product = own_product(product_id)
    form = ActionForm()
    if form.validate_on_submit():
        name = product.product_name
        products.delete_product(actor(), product_id)
        flash(f"“{name}” was taken off sale. Its orders stay in the history.", "success")
        return redirect(url_for("home.seller_products"))
    return render_template(
        "confirm.html",
        form=form,
        title=f"Delete “{product.product_name}”?",
        text="Buyers will no longer see it. Past orders keep their history.",
        button="Delete product",
        cancel=url_for("home.seller_products"),
    )


def too_large_message(max_bytes: int) -> str:
    return f"The picture is larger than {max_bytes // 1024} KiB: choose a smaller file"


@bp.route("/seller/products/<int:product_id>/image", methods=["GET", "POST"])
@csrf.exempt  # checked below, after raising the body limit for this upload
@role_required("seller")
def product_image(product_id: int):
    product = own_product(product_id)
    max_bytes = current_app.config["MAX_IMAGE_BYTES"]
    if request.method == "POST":
        request.max_content_length = images.upload_request_limit(max_bytes)
        try:
            request.form  # noqa: B018 (parses the body now: one over the limit is refused here)
        except RequestEntityTooLarge:
            form = ImageForm(formdata=None)
            form.image.errors = [too_large_message(max_bytes)]
            return render_template("seller/image.html", form=form, product=product, max_bytes=max_bytes), 413
        if current_app.config.get("WTF_CSRF_ENABLED", True):
            csrf.protect()
    form = ImageForm()
    if form.validate_on_submit():
        data = form.image.data.read(max_bytes + 1)
        try:
            images.set_product_image(actor(), product_id, data, max_bytes=max_bytes)
        except ServiceError as error:
            show_error(error, form)
        else:
            flash(f"New picture saved for “{product.product_name}”.", "success")
            return redirect(url_for("home.seller_products"))
    return render_template("seller/image.html", form=form, product=product, max_bytes=max_bytes)


@bp.route("/seller/sales")
@role_required("seller")
def seller_sales():
    form = OrderFilterForm(formdata=request.args)
    filters = in_window(read_filters(form), form, default_days=reports.DEFAULT_DAYS)
    summary = series = None
    if filters is not None:
        summary = orders.sales_summary(actor(), since=filters.since, until=filters.until)
        series = reports.every_day(summary.by_day, filters.since, filters.until)
    history, totals = order_list(filters, form)
    chart = None
    if series is not None:
        chart = {
            "days": [d.day.isoformat() for d in series],
            "revenue": [d.revenue / 100 for d in series],
            "units": [d.units for d in series],
            "products": [p.product_name for p in summary.by_product[:10]],
            "productRevenue": [p.revenue / 100 for p in summary.by_product[:10]],
        }
    return render_template("seller/sales.html", form=form, summary=summary, series=series, chart=chart,
                           history=history, totals=totals, args=filter_args(form))


@bp.route("/seller/sales.csv")
@role_required("seller")
def seller_sales_csv():
    form = OrderFilterForm(formdata=request.args)
    filters = read_filters(form)
    if filters is None:
        flash("Check the filters: " + "; ".join(m for ms in form.errors.values() for m in ms), "danger")
        return redirect(url_for("home.seller_sales"))
    return csv_download(filters, "sales")


# ---------------------------------------------------------------- operator


def render_tubes(*, set_form=None, refill_form=None, collect_form=None, levels_form=None, code: int = 200):
    initial_float = current_app.config["INITIAL_FLOAT"]
    states = operator.tube_states(initial_float)
    tubes = {tube.coin: tube.count for tube in states}
    levels_form = levels_form or LowLevelsForm(formdata=None, prefix="low",
                                               data={f"c{tube.coin}": tube.low_at for tube in states})
    set_form = set_form or TubesForm(formdata=None, data={f"c{coin}": count for coin, count in tubes.items()})
    refill_form = refill_form or RefillForm(formdata=None, prefix="refill")
    collect_form = collect_form or CollectForm(
        formdata=None, prefix="collect", data={f"c{coin}": initial_float for coin in COINS}
    )
    before = request.args.get("before", type=int)
    operator_only = request.args.get("operator") == "1"
    history = operator.tube_history(actor(), before=before, size=PAGE_SIZE, operator_only=operator_only)
    total = sum(coin * count for coin, count in tubes.items())
    return render_template("admin/tubes.html", form=set_form, refill=refill_form, collect=collect_form, tubes=tubes,
                           states=states, levels=levels_form,
                           total=total, history=history, operator_only=operator_only,
                           short_of_change=operator.exact_change_only(initial_float)), code


@bp.route("/admin/tubes", methods=["GET", "POST"])
@role_required("admin")
def admin_tubes():
    if request.method == "GET":
        return render_tubes()
    form = TubesForm()
    if form.validate_on_submit():
        try:
            machine.set_tubes(actor(), form.counts(), initial_float=current_app.config["INITIAL_FLOAT"])
        except ServiceError as error:
            show_error(error, form)
        else:
            flash("The coin tubes were updated.", "success")
            return redirect(url_for("home.admin_tubes"))
    return render_tubes(set_form=form)


@bp.route("/admin/tubes/refill", methods=["POST"])
@role_required("admin")
def admin_refill():
    form = RefillForm(prefix="refill")
    if form.validate_on_submit():
        try:
            done = operator.refill(actor(), form.counts(), initial_float=current_app.config["INITIAL_FLOAT"])
        except ServiceError as error:
            show_error(error, form)
        else:
            flash(f"Refilled the tubes with {money(done.cents)}.", "success")
            return redirect(url_for("home.admin_tubes"))
    return render_tubes(refill_form=form)


@bp.route("/admin/tubes/collect", methods=["POST"])
@role_required("admin")
def admin_collect():
    form = CollectForm(prefix="collect")
    if form.validate_on_submit():
        try:
            done = operator.collect_coins(actor(), form.counts(), initial_float=current_app.config["INITIAL_FLOAT"])
        except ServiceError as error:
            show_error(error, form)
        else:
            flash(f"Collected {money(done.cents)} into the cash box; the float stays in the tubes.", "success")
            return redirect(url_for("home.admin_tubes"))
    return render_tubes(collect_form=form)


@bp.route("/admin/tubes/levels", methods=["POST"])
@role_required("admin")
def admin_tube_levels():
    form = LowLevelsForm(prefix="low")
    if form.validate_on_submit():
        try:
            operator.set_low_levels(actor(), form.counts(), initial_float=current_app.config["INITIAL_FLOAT"])
        except ServiceError as error:
            show_error(error, form)
        else:
            flash("The low-tube warning levels were saved.", "success")
            return redirect(url_for("home.admin_tubes"))
    return render_tubes(levels_form=form)


@bp.route("/admin/users")
@role_required("admin")
def admin_users():
    q = request.args.get("q", "").strip()[: operator.USER_QUERY_MAX]
    role = request.args.get("role") or None
    try:
        page = paginate(operator.find_users(actor(), q=q or None, role=role))
    except ServiceError as error:
        flash(error.message, "danger")
        return redirect(url_for("home.admin_users"))
    rows = [{"user": u, "can_delete": u.id != actor().id} for u in page.items]
    return render_template("admin/users.html", page=page, rows=rows, q=q, role=role)


@bp.route("/admin/users/<int:user_id>/delete", methods=["GET", "POST"])
@role_required("admin")
def admin_user_delete(user_id: int):
    user = users.get_user(actor(), user_id)
    form = ActionForm()
    if form.validate_on_submit():
        name = user.username
        try:
            deletion = users.delete_user(actor(), user_id)
        except ServiceError as error:
            show_error(error)
        else:
            paid = sum(deletion.change)
            flash(f"User {name} deleted." + (f" {money(paid)} of escrow paid back." if paid else ""), "success")
        return redirect(url_for("home.admin_users"))
    return render_template(
        "confirm.html",
        form=form,
        title=f"Delete user {user.username}?",
        text="Their coins in escrow are returned and their products go off sale. This cannot be undone.",
        button="Delete user",
        cancel=url_for("home.admin_users"),
    )


@bp.route("/admin/orders")
@role_required("admin")
def admin_orders():
    form = OrderFilterForm(formdata=request.args)
    filters = in_window(read_filters(form, seller_by_name=True), form, default_days=reports.OPERATOR_DEFAULT_DAYS)
    history, totals = order_list(filters, form)
    return render_template("admin/orders.html", history=history, totals=totals, form=form, args=filter_args(form))


@bp.route("/admin/orders.csv")
@role_required("admin")
def admin_orders_csv():
    form = OrderFilterForm(formdata=request.args)
    filters = read_filters(form, seller_by_name=True)
    if filters is None:
        flash("Check the filters: " + "; ".join(m for ms in form.errors.values() for m in ms), "danger")
        return redirect(url_for("home.admin_orders"))
    return csv_download(filters, "orders")
