"""The catalogue, registration, login and logout, and the account's sessions."""



from datetime import timedelta

from flask import (
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required, logout_user

from app.home import bp
from app.home.account.forms import LoginForm, RegisterForm
from app.home.auth import (
    actor,
    forget_browser_session,
    open_web_session,
    safe_next,
    start_browser_session,
    web_login,
)
from app.home.common import paginate, show_error
from app.home.forms import ActionForm, SearchForm
from app.home.locale import remember_time_zone
from app.limits import login_check, login_limit_per_address, login_limit_per_username, registration_limit
from app.services import (
    devices,
    products,
    sessions,
    users,
)
from app.services.errors import ServiceError

# ---------------------------------------------------------------- catalogue


@bp.route("/")
def catalogue():
    search = SearchForm(formdata=request.args)
    q = search.text(products.NAME_MAX)
    page = paginate(products.catalogue(q=q))
    return render_template("catalogue.html", page=page, q=q or "", search=search)


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
            remember_time_zone(form.time_zone.data)
            flash(f"Welcome, {result.user.username}! Your {result.user.role} account is ready.", "success")
            return redirect(url_for("home.dashboard"))
    rules = {"min_score": users.MIN_PASSWORD_SCORE, "min_length": users.PASSWORD_MIN}
    return render_template("auth/register.html", form=form, password_rules=rules)


@bp.route("/login", methods=["GET", "POST"])
@login_limit_per_address
@login_limit_per_username
def login():
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    if form.validate_on_submit():
        try:
            with login_check():
                result = web_login(form.username.data, form.password.data)
        except ServiceError as error:
            form.password.errors = [*list(form.password.errors), error.message]
        else:
            start_browser_session(result)
            remember_time_zone(form.time_zone.data)
            flash(f"Logged in as {result.user.username}.", "success")
            if result.message:
                flash(result.message, "active-session")
            return redirect(safe_next(form.next.data, default="home.dashboard"))
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
    config = current_app.config
    return render_template(
        "sessions.html", rows=rows, form=ActionForm(),
        idle_text=sessions.spelled_duration(timedelta(seconds=config["SESSION_IDLE_TIMEOUT_SECONDS"])),
        ttl_text=sessions.spelled_duration(timedelta(seconds=config["AUTH_TOKEN_TTL_SECONDS"])),
    )


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


@bp.route("/sessions/end-all", methods=["GET", "POST"])
@login_required
def end_all_sessions():
    """Asks first (a page of its own, so it works without JavaScript), then ends every session."""
    form = ActionForm()
    if form.validate_on_submit():
        ended = sessions.end_all_sessions(actor().id)
        logout_user()
        forget_browser_session()
        flash(f"Logged out everywhere: {ended} session{'s' if ended != 1 else ''} ended, API tokens included.", "info")
        return redirect(url_for("home.login"))
    count = sessions.active_session_count(actor().id)
    return render_template(
        "confirm.html", form=form, title="Log out everywhere?",
        text=f"This ends {count} session{'s' if count != 1 else ''} of your account, this browser's, your other "
             "browsers' and every API token, and you will have to log in again everywhere.",
        button="Log out everywhere", cancel=url_for("home.sessions_page"),
    )


