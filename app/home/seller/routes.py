"""A seller's products, pictures and sales."""



from flask import (
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.exceptions import RequestEntityTooLarge

from app.extensions import csrf
from app.home import bp, resume
from app.home.auth import (
    actor,
    role_required,
)
from app.home.common import (
    csv_download,
    filter_view,
    order_list,
    paginate,
    read_filters,
    show_error,
    utc_today,
)
from app.home.filters import money
from app.home.forms import ActionForm, OrderFilterForm
from app.home.seller.forms import ImageForm, ProductForm, RestockForm
from app.limits import upload_limit_web
from app.services import (
    images,
    orders,
    products,
    reports,
    stock,
)
from app.services.errors import ServiceError
from app.services.policy import require_product_owner

# ---------------------------------------------------------------- seller


def own_product(product_id: int):
    """The seller's product, or the service's NotFound / Forbidden."""
    product = products.get_product(product_id)
    require_product_owner(actor(), product.seller_id)
    return product


def restock_units(product_id: int) -> str:
    """The units typed into this product's Restock form when the session ended (app.home.resume), else 10."""
    kept = resume.take("home.product_restock", product_id=product_id)
    return kept.get("units", "10") if kept is not None else "10"


@bp.route("/seller/products")
@role_required("seller")
def seller_products():
    page = paginate(products.catalogue(seller_id=actor().id))
    rows = [{"product": p, "low": stock.is_low(p), "units": restock_units(p.id)} for p in page.items]
    return render_template("seller/products.html", page=page, rows=rows, restock=RestockForm(), action=ActionForm())


@bp.route("/seller/products/new", methods=["GET", "POST"])
@role_required("seller")
def product_create():
    form = ProductForm()
    resume.restore(form, "home.product_create")
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
    resume.restore(form, "home.product_edit", obj=product, product_id=product_id)
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
@upload_limit_web
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
    filters = read_filters(form, default_period=reports.DEFAULT_PERIOD)
    history = order_list(filters, form)
    summary = chart = None
    if filters is not None:
        summary = orders.sales_summary(actor(), filters, today=utc_today())
        figure = "refunds" if filters.status == "refunded" else "net"
        chart = {
            "span": summary.span,
            "figure": figure,
            "periods": [p.first_day.isoformat() for p in summary.series],
            "values": [getattr(p.totals, figure) / 100 for p in summary.series],
            "products": [p.product_name for p in summary.by_product[:10]],
            "productValues": [getattr(p.totals, figure) / 100 for p in summary.by_product[:10]],
        }
    return render_template("seller/sales.html", form=form, summary=summary, chart=chart, history=history,
                           **filter_view(form))


@bp.route("/seller/sales.csv")
@role_required("seller")
def seller_sales_csv():
    form = OrderFilterForm(formdata=request.args)
    filters = read_filters(form)
    if filters is None:
        flash("Check the filters: " + "; ".join(m for ms in form.errors.values() for m in ms), "danger")
        return redirect(url_for("home.seller_sales"))
    return csv_download(filters, "sales")


