from config.errors import DomainError


class TenantNotFound(DomainError):
    code = "tenant_not_found"
    status = 404
    message = "No tenant with that slug."


class TenantSlugTaken(DomainError):
    code = "slug_taken"
    status = 409
    message = "A tenant with this slug already exists."


class StaffUserConflict(DomainError):
    code = "staff_user_conflict"
    status = 409
    message = "That e-mail belongs to more than one user."
