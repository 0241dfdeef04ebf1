from django.apps import AppConfig


class BackofficeConfig(AppConfig):
    """The staff back office: how the admin looks and reads (theme, sidebar,
    money and dates for people), the dashboard and calendar reads, and the
    operators' commands. The top floor: it imports every app, none imports
    it, and it has no models."""

    name = "backoffice"
    verbose_name = "Back office"
