"""Base classes for ops commands: one-line errors, --json, and --tenant scoping."""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.serializers.json import DjangoJSONEncoder

from config.errors import DomainError
from tenants.audit import actor_context
from tenants.errors import TenantNotFound
from tenants.models import Tenant
from tenants.scoping import scopes_disabled, tenant_scope
from tenants.selectors import tenant_get


def validation_error_line(exc: ValidationError) -> str:
    if hasattr(exc, "error_dict"):
        return "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())
    return " ".join(exc.messages)


class AltarCommand(BaseCommand):
    """Bad arguments and refused operations exit non-zero with one clear line."""

    json_option = False

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)

        def one_line_error(message: str) -> None:
            if parser.called_from_command_line:
                sys.stderr.write(f"{subcommand}: error: {message}\n")
                sys.exit(2)
            raise CommandError(f"Error: {message}")

        parser.error = one_line_error
        if self.json_option:
            parser.add_argument(
                "--json", action="store_true", help="Print one JSON object and nothing else."
            )
        return parser

    def execute(self, *args: Any, **options: Any) -> Any:
        # The command's module name is the name ops typed (manage.py <name>).
        name = type(self).__module__.rsplit(".", 1)[-1]
        try:
            with actor_context("command", f"command:{name}"):
                return super().execute(*args, **options)
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        except ValidationError as exc:
            raise CommandError(validation_error_line(exc)) from exc

    def print_json(self, payload: dict[str, Any]) -> None:
        self.stdout.write(json.dumps(payload, cls=DjangoJSONEncoder, sort_keys=True))


class TenantCommand(AltarCommand):
    """Commands acting on one tenant: `--tenant SLUG`, run inside its scope."""

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.add_argument("--tenant", required=True, metavar="SLUG", help="The tenant's slug.")
        return parser

    def handle(self, *args: Any, **options: Any) -> Any:
        # Popped: handle_tenant receives the Tenant itself as `tenant`.
        slug = options.pop("tenant")
        try:
            tenant = tenant_get(slug=slug)
        except TenantNotFound as exc:
            raise CommandError(f"No tenant with slug {slug!r}.") from exc
        with tenant_scope(tenant):
            return self.handle_tenant(tenant, *args, **options)

    def handle_tenant(self, tenant: Tenant, *args: Any, **options: Any) -> Any:
        raise NotImplementedError


class OptionalTenantCommand(AltarCommand):
    """Ops commands over every tenant, or one with `--tenant SLUG` (run in
    its scope; without it, scopes are disabled: an ops sweep)."""

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.add_argument(
            "--tenant", metavar="SLUG", help="Only this tenant (default: every tenant)."
        )
        return parser

    def handle(self, *args: Any, **options: Any) -> Any:
        slug = options.pop("tenant")
        if slug is None:
            with scopes_disabled():
                return self.handle_tenant(None, *args, **options)
        try:
            tenant = tenant_get(slug=slug)
        except TenantNotFound as exc:
            raise CommandError(f"No tenant with slug {slug!r}.") from exc
        with tenant_scope(tenant):
            return self.handle_tenant(tenant, *args, **options)

    def handle_tenant(self, tenant: Tenant | None, *args: Any, **options: Any) -> Any:
        raise NotImplementedError
