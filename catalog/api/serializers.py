"""Catalog API shapes (API.md §1 `Package`). Output only: the public API
never writes the catalog. The views feed these the cached dicts of
catalog.cache, not model instances."""

from __future__ import annotations

from rest_framework import serializers

MAX_PAGE_SIZE = 100


class PackageListInputSerializer(serializers.Serializer):
    """Malformed paging is a 400 (`fields` says which). A well-formed page
    past the last one is left to DRF's paginator: 404 `not_found`."""

    page = serializers.IntegerField(required=False, min_value=1, help_text="1-based page number.")
    page_size = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_PAGE_SIZE, help_text="Default 20."
    )


class AbsoluteUrlField(serializers.CharField):
    """Cached photo URLs are host-independent; the request's host goes in here."""

    def to_representation(self, value: str) -> str:
        request = self.context.get("request")
        return request.build_absolute_uri(value) if request is not None else value


class ThumbnailOutputSerializer(serializers.Serializer):
    url = AbsoluteUrlField()
    width = serializers.IntegerField()
    height = serializers.IntegerField()


class PhotoOutputSerializer(serializers.Serializer):
    url = AbsoluteUrlField()
    alt = serializers.CharField()
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    thumbnails = ThumbnailOutputSerializer(
        many=True, help_text="Smaller copies (360 and 720 px wide), narrowest first."
    )


class PackageAddOnOutputSerializer(serializers.Serializer):
    slug = serializers.CharField()
    title = serializers.CharField()
    description = serializers.CharField()
    price_cents = serializers.IntegerField()


class PaymentPlanOutputSerializer(serializers.Serializer):
    """How a booking pays: `full` at checkout, or a `deposit` now (a percent
    or a fixed amount of the total) and the balance `balance_days_before`
    the wedding. A booking made later than that pays in full."""

    kind = serializers.ChoiceField(choices=["full", "deposit"])
    deposit_percent = serializers.IntegerField(allow_null=True)
    deposit_cents = serializers.IntegerField(allow_null=True)
    deposit_refundable = serializers.BooleanField(allow_null=True)
    balance_days_before = serializers.IntegerField(allow_null=True)


class PackageOutputSerializer(serializers.Serializer):
    slug = serializers.CharField()
    title = serializers.CharField()
    description = serializers.CharField()
    price_cents = serializers.IntegerField()
    currency = serializers.CharField()
    photos = PhotoOutputSerializer(many=True)
    add_ons = PackageAddOnOutputSerializer(many=True)
    payment_plan = PaymentPlanOutputSerializer()


class PackagePageOutputSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = PackageOutputSerializer(many=True)
