"""/stripe/webhook/<uuid>/: Stripe's deliveries, one endpoint per signing
secret (`manage.py stripe_webhook_endpoint` records each)."""

from django.urls import path

from webhooks.views import StripeWebhookView

urlpatterns = [
    path("stripe/webhook/<uuid:uuid>/", StripeWebhookView.as_view(), name="stripe-webhook"),
]
