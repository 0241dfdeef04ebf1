"""`manage.py create_staff`: an admin login for one tenant."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import CommandError, CommandParser
from django.core.validators import validate_email

from tenants.commands import TenantCommand
from tenants.models import Tenant, TenantMembership
from tenants.services import staff_link, staff_password_from_env


class Command(TenantCommand):
    help = (
        "Create an admin user for a tenant, or link an existing user (found by e-mail) "
        "to it, with the given role. The password comes from the ALTAR_STAFF_PASSWORD "
        "environment variable; without it, a new user gets a one-time link to set their "
        "own password (an existing user keeps theirs)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--email", required=True, help="The person's e-mail; it is also their login."
        )
        parser.add_argument(
            "--role",
            choices=[r.value for r in TenantMembership.Role],
            default=TenantMembership.Role.STAFF,
            help="owner or staff (default: staff). Re-running with another role changes it.",
        )

    def handle_tenant(self, tenant: Tenant, *args: Any, **options: Any) -> None:
        email = options["email"].strip()
        try:
            validate_email(email)
        except ValidationError:
            raise CommandError(f"Not a valid e-mail address: {email!r}.") from None
        password = staff_password_from_env()
        linked = staff_link(tenant=tenant, email=email, role=options["role"], password=password)
        user, role = linked.user, linked.membership.role
        verb = "Created user" if linked.user_created else "Linked existing user"
        self.stdout.write(f"{verb} {user.email} to {tenant.slug} as {role}.")
        if password:
            self.stdout.write("Password set from ALTAR_STAFF_PASSWORD.")
        elif linked.password_reset_path:
            base = settings.PUBLIC_BASE_URL.rstrip("/")
            days = max(1, round(settings.PASSWORD_RESET_TIMEOUT / 86400))
            self.stdout.write(
                f"Set a password (one-time link, valid {days} days): "
                f"{base}{linked.password_reset_path}"
            )
        else:
            self.stdout.write("The user keeps their existing password.")
        self.stdout.write(f"Log in at {settings.PUBLIC_BASE_URL.rstrip('/')}/admin/")
