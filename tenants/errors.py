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


class InvitationInvalid(DomainError):
    # One answer for unknown, used, revoked and expired links: the page
    # tells the holder what to do, not which of these it was.
    code = "invitation_invalid"
    status = 404
    message = (
        "This invitation link is no longer valid: it was already used, withdrawn, "
        "or it has expired. Ask the business to send you a new invitation."
    )


class InvitationWrongAccount(DomainError):
    code = "invitation_wrong_account"
    status = 403
    message = "This invitation is for another account: log in as the invited person to accept it."
