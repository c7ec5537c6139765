"""Thin views: validate the form, call a service, flash the outcome, redirect."""

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, logout_user
from wtforms.fields.choices import SelectChoice

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
from app.home.filters import money
from app.home.forms import (
    ActionForm,
    BuyForm,
    DepositForm,
    ImageForm,
    LoginForm,
    ProductForm,
    RegisterForm,
    RestockForm,
    TubesForm,
)
from app.limits import login_limit_per_address, login_limit_per_username, registration_limit
from app.services import images, machine, orders, products, sessions, users, vending
from app.services.coins import COINS
from app.services.errors import ServiceError
from app.services.policy import require_product_owner

PAGE_SIZE = 12
RESULT_KEY = "last_result"
# Service field names (API spelling) -> form field names.
FIELD_NAMES = {"productName": "product_name", "amountAvailable": "amount_available", "product_id": "product_id"}
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


def page_number() -> int:
    return request.args.get("page", 1, type=int) or 1


def paginate(stmt):
    return pages.paginate(stmt, page=page_number(), page_size=PAGE_SIZE)


def remember_result(kind: str, **data) -> None:
    """What the machine just did, shown once on the next page (the coins that came out)."""
    session[RESULT_KEY] = {"kind": kind, **data}


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
        {"row": s, "current": s.id == current} for s in sessions.list_sessions(actor())
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


# ---------------------------------------------------------------- buyer


def buy_form() -> BuyForm:
    form = BuyForm()
    on_sale = db.session.scalars(products.catalogue(in_stock=True)).all()
    form.product_id.choices = [
        SelectChoice(p.id, f"{p.product_name} · {money(p.cost)} · {p.amount_available} left") for p in on_sale
    ]
    return form


def machine_context(form: BuyForm | None = None) -> dict:
    escrow = vending.get_escrow(actor())
    form = form or buy_form()
    if request.method == "GET" and request.args.get("product", type=int):
        form.product_id.data = request.args.get("product", type=int)
    history = paginate(orders.visible_orders(actor()))
    window = current_app.config["REFUND_WINDOW_SECONDS"]
    rows = [{"order": o, "refusal": orders.refund_refusal(o, actor().id, window)} for o in history.items]
    for row in rows:
        row["can_refund"] = row["refusal"] is None
    return {
        "escrow": escrow,
        "coins": COINS,
        "buy_form": form,
        "action": ActionForm(),
        "history": history,
        "rows": rows,
        "result": session.pop(RESULT_KEY, None),
    }


@bp.route("/machine")
@role_required("buyer")
def machine_page():
    return render_template("machine.html", **machine_context())


@bp.route("/machine/deposit", methods=["POST"])
@role_required("buyer")
def deposit():
    form = DepositForm()
    if form.validate_on_submit():
        try:
            escrow = vending.deposit(actor(), form.coin.data, max_deposit=current_app.config["MAX_DEPOSIT_CENTS"])
            metrics.money_done("deposit", "web")
            flash(f"Inserted {form.coin.data} cents. Deposit: {escrow.deposit} cents.", "success")
        except ServiceError as error:
            show_error(error)
    else:
        flash("; ".join(form.coin.errors) or "Choose a coin", "danger")
    return redirect(url_for("home.machine_page"))


@bp.route("/machine/buy", methods=["POST"])
@role_required("buyer")
def buy():
    form = buy_form()
    if form.validate_on_submit():
        try:
            purchase = vending.buy(
                actor(), form.product_id.data, form.amount.data, initial_float=current_app.config["INITIAL_FLOAT"]
            )
        except ServiceError as error:
            metrics.money_refused("buy", "web", error.message)
            show_error(error, form)
        else:
            metrics.money_done("buy", "web")
            order = purchase.order
            remember_result(
                "purchase", product=order.product_name, amount=order.amount, total=order.total_spent,
                change=list(purchase.change),
            )
            flash(f"You bought {order.amount} × {order.product_name} for {order.total_spent} cents.", "success")
            return redirect(url_for("home.machine_page"))
    if form.errors:
        flash("Please check the purchase form.", "danger")
    return render_template("machine.html", **machine_context(form))


@bp.route("/machine/reset", methods=["POST"])
@role_required("buyer")
def reset():
    if ActionForm().validate_on_submit():
        returned = vending.reset(actor())
        metrics.money_done("reset", "web")
        remember_result("coin_return", change=list(returned.change))
        total = sum(returned.change)
        flash(f"Coin return: {total} cents given back." if total else "There were no coins to return.", "info")
    return redirect(url_for("home.machine_page"))


@bp.route("/orders/<int:order_id>/refund", methods=["POST"])
@role_required("buyer")
def refund(order_id: int):
    if ActionForm().validate_on_submit():
        try:
            result = orders.refund(
                actor(),
                order_id,
                window_seconds=current_app.config["REFUND_WINDOW_SECONDS"],
                initial_float=current_app.config["INITIAL_FLOAT"],
            )
        except ServiceError as error:
            metrics.money_refused("refund", "web", error.message)
            show_error(error)
        else:
            metrics.money_done("refund", "web")
            remember_result("refund", product=result.order.product_name, total=result.order.total_spent,
                            change=list(result.change))
            flash(f"Order #{order_id} refunded: {result.order.total_spent} cents paid back.", "success")
    return redirect(url_for("home.machine_page"))


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
    return render_template("seller/products.html", page=page, restock=RestockForm(), action=ActionForm())


@bp.route("/seller/products/new", methods=["GET", "POST"])
@role_required("seller")
def product_create():
    form = ProductForm()
    if form.validate_on_submit():
        try:
            product = products.create_product(actor(), form.fields_dict())
        except ServiceError as error:
            show_error(error, form)
        else:
            flash(f"“{product.product_name}” is on sale. Add a picture?", "success")
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
        except ServiceError as error:
            show_error(error, form)
        else:
            flash(f"“{product.product_name}” saved.", "success")
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


@bp.route("/seller/products/<int:product_id>/image", methods=["GET", "POST"])
@csrf.exempt  # checked below, after raising the body limit for this upload
@role_required("seller")
def product_image(product_id: int):
    product = own_product(product_id)
    if request.method == "POST":
        request.max_content_length = images.upload_request_limit(current_app.config["MAX_IMAGE_BYTES"])
        if current_app.config.get("WTF_CSRF_ENABLED", True):
            csrf.protect()
    form = ImageForm()
    if form.validate_on_submit():
        data = form.image.data.read(current_app.config["MAX_IMAGE_BYTES"] + 1)
        try:
            images.set_product_image(actor(), product_id, data, max_bytes=current_app.config["MAX_IMAGE_BYTES"])
        except ServiceError as error:
            show_error(error, form)
        else:
            flash(f"New picture saved for “{product.product_name}”.", "success")
            return redirect(url_for("home.seller_products"))
    return render_template("seller/image.html", form=form, product=product)


@bp.route("/seller/sales")
@role_required("seller")
def seller_sales():
    stmt = orders.visible_orders(actor())
    history = paginate(stmt)
    totals = orders.sales_totals(actor())
    return render_template("seller/sales.html", history=history, totals=totals)


# ---------------------------------------------------------------- operator


@bp.route("/admin/tubes", methods=["GET", "POST"])
@role_required("admin")
def admin_tubes():
    initial_float = current_app.config["INITIAL_FLOAT"]
    form = TubesForm()
    if form.validate_on_submit():
        try:
            machine.set_tubes(actor(), form.counts(), initial_float=initial_float)
        except ServiceError as error:
            show_error(error, form)
        else:
            flash("The coin tubes were updated.", "success")
            return redirect(url_for("home.admin_tubes"))
    tubes = machine.get_tubes(actor(), initial_float=initial_float)
    if request.method == "GET":
        for coin in COINS:
            getattr(form, f"c{coin}").data = tubes[coin]
    total = sum(coin * count for coin, count in tubes.items())
    return render_template("admin/tubes.html", form=form, tubes=tubes, total=total)


@bp.route("/admin/users")
@role_required("admin")
def admin_users():
    page = paginate(users.all_users(actor(), request.args.get("role") or None))
    rows = [{"user": u, "can_delete": u.id != actor().id} for u in page.items]
    return render_template("admin/users.html", page=page, rows=rows)


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
            flash(f"User {name} deleted." + (f" {paid} cents of escrow paid back." if paid else ""), "success")
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
    history = paginate(orders.visible_orders(actor()))
    return render_template("admin/orders.html", history=history)

