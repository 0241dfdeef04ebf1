from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "tenants"
    verbose_name = "Tenants"

    def ready(self) -> None:
        from tenants import (
            cors,  # noqa: F401  (connects the CORS origin check)
            signals,  # noqa: F401  (key-state epochs, tenants.api.gate)
        )
