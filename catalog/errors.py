"""Catalog refusals with stable codes (API.md §1). Field problems (bad slug,
price out of range, unknown add-on, invalid image) are Django
ValidationErrors instead, so they render as `validation_error` with `fields`."""

from config.errors import DomainError, NotFound


class SlugTaken(DomainError):
    code = "slug_taken"
    status = 409
    message = "This slug is already used in this catalog."

    def __init__(self, slug: str, message: str | None = None):
        message = message or f"The slug {slug!r} is already used in this catalog."
        super().__init__(message, fields={"slug": [{"code": "slug_taken", "message": message}]})
        self.slug = slug


class PackageNotFound(NotFound):
    message = "No such package."


class AddOnNotFound(NotFound):
    message = "No such add-on."


class PhotoNotFound(NotFound):
    message = "No such photo."


class PackageHasBookings(DomainError):
    code = "package_has_bookings"
    status = 409
    message = "This package has bookings and cannot be deleted; deactivate it instead."


class PhotoLimitReached(DomainError):
    code = "photo_limit"
    status = 400
    message = "A package has at most 5 photos; delete one first."
