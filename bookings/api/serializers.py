"""Input and output shapes of the bookings API (API.md §1)."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from bookings.selectors import MAX_RANGE_DAYS, REASONS, booking_balance_due_cents
from catalog.api.serializers import PaymentPlanOutputSerializer

# The contract's dates are YYYY-MM-DD only (DRF would also take 20260701).
ISO_DATE = ["%Y-%m-%d"]
MAX_ANSWERS = 50


class CheckoutInputSerializer(serializers.Serializer):
    package = serializers.SlugField(max_length=50)
    add_ons = serializers.ListField(
        child=serializers.SlugField(max_length=50), required=False, default=list, max_length=50
    )
    event_date = serializers.DateField(input_formats=ISO_DATE)
    couple_name = serializers.CharField(max_length=200)
    email = serializers.EmailField(max_length=254)
    phone = serializers.CharField(max_length=40, required=False, default="", allow_blank=True)
    notes = serializers.CharField(max_length=2000, required=False, default="", allow_blank=True)
    # The version of the tenant's terms the couple accepted (GET /terms);
    # required when the tenant has terms.
    accept_terms_version = serializers.IntegerField(
        required=False, allow_null=True, default=None, min_value=1, max_value=2**31 - 1
    )
    # Answers to the tenant's booking questions by key; each is checked
    # against its question by the service (`answers.<key>` error codes).
    answers = serializers.DictField(required=False, default=dict, allow_empty=True)

    def validate_answers(self, value: dict) -> dict:
        if len(value) > MAX_ANSWERS:
            raise serializers.ValidationError(
                f"At most {MAX_ANSWERS} answers.", code="too_many_answers"
            )
        return value


class AvailabilityRangeInputSerializer(serializers.Serializer):
    start = serializers.DateField(input_formats=ISO_DATE)
    end = serializers.DateField(input_formats=ISO_DATE)

    def validate(self, attrs):
        days = (attrs["end"] - attrs["start"]).days + 1
        if days < 1:
            raise serializers.ValidationError(
                {"end": serializers.ErrorDetail("end is before start.", code="invalid_range")}
            )
        if days > MAX_RANGE_DAYS:
            raise serializers.ValidationError(
                {
                    "end": serializers.ErrorDetail(
                        f"At most {MAX_RANGE_DAYS} days per request.", code="range_too_long"
                    )
                }
            )
        return attrs


class AvailabilityDateInputSerializer(serializers.Serializer):
    date = serializers.DateField(input_formats=ISO_DATE)


class UnavailableDateOutputSerializer(serializers.Serializer):
    date = serializers.DateField()
    reason = serializers.ChoiceField(choices=REASONS)


class AvailabilityRangeOutputSerializer(serializers.Serializer):
    start = serializers.DateField()
    end = serializers.DateField()
    unavailable = UnavailableDateOutputSerializer(many=True)


class AvailabilityDateOutputSerializer(serializers.Serializer):
    date = serializers.DateField()
    available = serializers.BooleanField()
    reason = serializers.ChoiceField(choices=REASONS, allow_null=True)


class BookingPackageOutputSerializer(serializers.Serializer):
    slug = serializers.CharField()
    title = serializers.CharField()


class BookingAddOnOutputSerializer(serializers.Serializer):
    slug = serializers.CharField()
    title = serializers.CharField()
    price_cents = serializers.IntegerField()


class TermsOutputSerializer(serializers.Serializer):
    version = serializers.IntegerField()
    text = serializers.CharField()
    published_at = serializers.DateTimeField(source="created_at")


class BookingTermsOutputSerializer(serializers.Serializer):
    version = serializers.IntegerField(source="terms_version.version")
    accepted_at = serializers.DateTimeField(source="terms_accepted_at")


class BookingOutputSerializer(serializers.Serializer):
    """The public view of a booking: no e-mail, phone or notes."""

    id = serializers.UUIDField()
    status = serializers.CharField(source="public_status")
    event_date = serializers.DateField()
    package = BookingPackageOutputSerializer()
    add_ons = BookingAddOnOutputSerializer(source="add_on_lines.all", many=True)
    couple_name = serializers.CharField()
    amount_cents = serializers.IntegerField()
    currency = serializers.CharField()
    hold_expires_at = serializers.DateTimeField(allow_null=True)
    confirmed_at = serializers.DateTimeField(allow_null=True)
    paid_cents = serializers.IntegerField(help_text="Succeeded payments (the ledger).")
    refunded_cents = serializers.IntegerField(help_text="Succeeded refunds.")
    balance_due_cents = serializers.SerializerMethodField(
        help_text="Still owed: 0 once paid in full or no longer active."
    )
    balance_due_on = serializers.DateField(
        allow_null=True, help_text="When the balance is charged (null: pays in full)."
    )
    payment_plan = PaymentPlanOutputSerializer(
        source="plan_in_force", help_text="The plan in force at checkout."
    )

    @extend_schema_field(serializers.IntegerField())
    def get_balance_due_cents(self, booking) -> int:
        return booking_balance_due_cents(booking)

    terms = serializers.SerializerMethodField()

    def get_terms(self, booking) -> dict | None:
        if booking.terms_version_id is None:
            return None
        return BookingTermsOutputSerializer(booking).data


class CheckoutOutputSerializer(serializers.Serializer):
    booking = BookingOutputSerializer()
    checkout_url = serializers.URLField()
