"""What a couple and a business agree on (issue 14): the tenant's versioned
terms, its booking questions and its cancellation/change policy; the reads
and the writes for each, kept together because they are small. The money
rule the policy implies lives in bookings.money.

Preconditions as in bookings.services: inside the tenant's scope.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max

from bookings.errors import TermsNotAccepted
from bookings.models import TermsVersion
from config.db import violated_constraint
from tenants.audit import audit_record
from tenants.models import Tenant

TERMS_VERSION_CONSTRAINT = "bookings_termsversion_tenant_version_uniq"
MAX_TERMS_CHARS = 50_000


# --- terms --------------------------------------------------------------------


def terms_current(*, tenant: Tenant) -> TermsVersion | None:
    """The version in force (the highest), or None when the tenant has none."""
    return TermsVersion.objects.filter(tenant=tenant).order_by("-version").first()


def terms_version_get(*, tenant: Tenant, version: int) -> TermsVersion | None:
    return TermsVersion.objects.filter(tenant=tenant, version=version).first()


@transaction.atomic
def terms_publish(*, tenant: Tenant, text: str) -> TermsVersion:
    """Publish a new version of the terms (the next number). Earlier
    versions stay as they were. Two staff publishing at once: the unique
    constraint lets one take the number; the other is told to retry."""
    text = text.strip()
    if not text:
        raise ValidationError({"text": ValidationError("Write the terms.", code="required")})
    if len(text) > MAX_TERMS_CHARS:
        raise ValidationError(
            {"text": ValidationError("The terms are too long.", code="max_length")}
        )
    latest = TermsVersion.objects.filter(tenant=tenant).aggregate(v=Max("version"))["v"] or 0
    terms = TermsVersion(tenant=tenant, version=latest + 1, text=text)
    try:
        with transaction.atomic():
            terms.save(force_insert=True)
    except IntegrityError as exc:
        if violated_constraint(exc) != TERMS_VERSION_CONSTRAINT:
            raise
        raise ValidationError(
            "Someone published a version at the same moment; review it and try again.",
            code="concurrent_publish",
        ) from exc
    audit_record(
        tenant=tenant,
        action="terms.published",
        obj=terms,
        changes={"version": [latest or None, terms.version]},
    )
    return terms


def terms_check(*, tenant: Tenant, accepted_version: int | None) -> TermsVersion | None:
    """The terms version checkout must record: None when the tenant has no
    terms; else `accepted_version` must be the version in force (raises
    TermsNotAccepted: `required` when missing, `outdated` when another)."""
    current = terms_current(tenant=tenant)
    if current is None:
        return None
    if accepted_version is None:
        raise TermsNotAccepted("required", current_version=current.version)
    if accepted_version != current.version:
        raise TermsNotAccepted("outdated", current_version=current.version)
    return current
