from django.apps import AppConfig


class StorefrontConfig(AppConfig):
    """The couple-facing pages: the booking page, its widget, success and
    cancel pages, and "manage my booking". Top floor: it calls the services
    and selectors of tenants, catalog and bookings; nothing imports it."""

    name = "storefront"
    default_auto_field = "django.db.models.BigAutoField"
