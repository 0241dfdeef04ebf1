from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Stripe webhooks"

    def ready(self) -> None:
        import stripe
        from django.conf import settings

        # dj-stripe's mirror calls Stripe through the library's global base
        # (its own STRIPE_API_HOST setting is checked as a warning in
        # production); point it where the platform's own calls go.
        stripe.api_base = settings.STRIPE_API_BASE

        from django.core.signals import setting_changed

        def follow_setting(*, setting: str, value, **kwargs) -> None:
            # Tests point STRIPE_API_BASE at the stand-in per test.
            if setting == "STRIPE_API_BASE":
                stripe.api_base = value

        setting_changed.connect(follow_setting, weak=False, dispatch_uid="altar-stripe-api-base")
