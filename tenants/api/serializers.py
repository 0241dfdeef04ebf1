from rest_framework import serializers


class BrandingOutputSerializer(serializers.Serializer):
    primary_color = serializers.CharField()
    secondary_color = serializers.CharField()
    font_family = serializers.CharField()
    logo_url = serializers.CharField(allow_null=True)


class BookingWindowOutputSerializer(serializers.Serializer):
    min_notice_days = serializers.IntegerField()
    max_advance_days = serializers.IntegerField()


class TenantOutputSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    currency = serializers.CharField()
    timezone = serializers.CharField()
    branding = BrandingOutputSerializer()
    booking_window = BookingWindowOutputSerializer()
