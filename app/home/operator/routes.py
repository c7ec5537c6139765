"""The operator's pages: the coin tubes, the users and every order."""



from flask import (
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)

from app.home import bp, resume
from app.home.auth import (
    actor,
    role_required,
)
from app.home.common import (
    PAGE_SIZE,
    csv_download,
    filter_view,
    order_list,
    paginate,
    read_filters,
    show_error,
)
from app.home.filters import money
from app.home.forms import ActionForm, OrderFilterForm, SearchForm
from app.home.operator.forms import CollectForm, HistoryForm, LowLevelsForm, RefillForm, TubesForm
from app.services import (
    machine,
    operator,
    orders,
    reports,
    users,
)
from app.services.coins import COINS
from app.services.errors import Conflict, ServiceError

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
    for form, endpoint in ((set_form, "home.admin_tubes"), (refill_form, "home.admin_refill"),
                           (collect_form, "home.admin_collect"), (levels_form, "home.admin_tube_levels")):
        resume.restore(form, endpoint)  # what the operator typed when their session ended, once
    shown = HistoryForm(formdata=request.args)
    before = shown.before.data if shown.validate() else None
    if shown.errors:
        flash("That page of the tubes' history does not exist: here is the newest.", "warning")
    operator_only = request.args.get("operator") == "1"
    history = operator.tube_history(actor(), before=before, size=PAGE_SIZE, operator_only=operator_only)
    total = sum(coin * count for coin, count in tubes.items())
    return render_template("admin/tubes.html", form=set_form, refill=refill_form, collect=collect_form, tubes=tubes,
                           states=states, levels=levels_form, collect_preview=collection_amount(collect_form),
                           total=total, history=history, operator_only=operator_only,
                           short_of_change=operator.exact_change_only(initial_float)), code


def collection_amount(form: CollectForm) -> int | None:
    """What the collect form's counts would take now (0: nothing), or None while they are not valid counts."""
    if form.errors:
        return None
    try:
        return operator.preview_collection(actor(), form.counts(), initial_float=current_app.config["INITIAL_FLOAT"]
                                           ).cents
    except Conflict:
        return 0
    except ServiceError:
        return None


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
    """Two steps, without JavaScript too: the counts to keep give a confirmation page with the amount they take;
    confirmed, the coins are taken if that is still the amount (sales move the tubes meanwhile)."""
    form = CollectForm(prefix="collect")
    if not form.validate_on_submit():
        return render_tubes(collect_form=form)
    initial_float = current_app.config["INITIAL_FLOAT"]
    if form.expected_cents.data is not None:
        try:
            done = operator.collect_coins(actor(), form.counts(), initial_float=initial_float,
                                          expected_cents=form.expected_cents.data)
        except ServiceError as error:
            show_error(error, form)  # the tubes changed: the confirmation again, with what it takes now
        else:
            flash(f"Collected {money(done.cents)} into the cash box; the float stays in the tubes.", "success")
            return redirect(url_for("home.admin_tubes"))
    try:
        preview = operator.preview_collection(actor(), form.counts(), initial_float=initial_float)
    except ServiceError as error:
        show_error(error, form)
        return render_tubes(collect_form=form)
    return render_template("admin/collect.html", form=form, preview=preview)


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
    search = SearchForm(formdata=request.args)
    q = search.text(operator.USER_QUERY_MAX)
    role = request.args.get("role") or None
    try:
        page = paginate(operator.find_users(actor(), q=q or None, role=role))
    except ServiceError as error:
        flash(error.message, "danger")
        return redirect(url_for("home.admin_users"))
    rows = [{"user": u, "can_delete": u.id != actor().id} for u in page.items]
    return render_template("admin/users.html", page=page, rows=rows, q=q or "", role=role, search=search)


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
    filters = read_filters(form, seller_by_name=True, default_period=reports.DEFAULT_PERIOD)
    history = order_list(filters, form)
    totals = None if filters is None else orders.order_totals(actor(), filters)
    return render_template("admin/orders.html", history=history, totals=totals, form=form, **filter_view(form))


@bp.route("/admin/orders.csv")
@role_required("admin")
def admin_orders_csv():
    form = OrderFilterForm(formdata=request.args)
    filters = read_filters(form, seller_by_name=True)
    if filters is None:
        flash("Check the filters: " + "; ".join(m for ms in form.errors.values() for m in ms), "danger")
        return redirect(url_for("home.admin_orders"))
    return csv_download(filters, "orders")
