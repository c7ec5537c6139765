"""Domain errors. The API maps them to JSON errors and the web pages to flash messages."""


class ServiceError(Exception):
    """A request the machine refuses. Nothing has changed when one is raised."""

    http_status = 400

    def __init__(self, message: str, errors: dict | None = None):
        super().__init__(message)
        self.message = message
        self.errors = errors


class Unauthorized(ServiceError):
    http_status = 401


class Forbidden(ServiceError):
    http_status = 403


class NotFound(ServiceError):
    http_status = 404


class Conflict(ServiceError):
    http_status = 409


class InvalidInput(ServiceError):
    """Input that passed the schema but breaks a rule of the machine."""

    http_status = 422

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message, {field: [message]} if field else None)
        self.field = field


class ChangeImpossible(Conflict):
    """A buy or a refund the tubes cannot pay exactly. Its message always starts with PREFIX, which
    is how a stored reply (only its JSON is kept) is still known for one (app.metrics)."""

    PREFIX = "The machine cannot"

    def __init__(self, what: str):
        super().__init__(f"{self.PREFIX} {what}")


class WrongPassword(Unauthorized):
    """A login whose password is wrong (or whose account does not exist): a failed password check, which the
    rate limits count (app.limits)."""


class WrongCurrentPassword(InvalidInput):
    """A password change whose current password is wrong: a failed password check, like WrongPassword."""

    def __init__(self, message: str = "Current password is wrong"):
        super().__init__(message, field="currentPassword")


FAILED_PASSWORD_CHECKS = (WrongPassword, WrongCurrentPassword)
