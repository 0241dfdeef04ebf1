"""The couple's own actions on a booking (issue 14), authenticated by the
"manage my booking" link's token in the `X-Manage-Token` header on top of
the tenant key. A missing, forged, expired or other booking's token answers
404 `not_found`, exactly like an unknown booking: the endpoint reveals
nothing without the capability."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from bookings.agreements import (
    answers_editable_reason,
    booking_answers_update,
    cancellation_request_create,
    policy_for,
    policy_refund_now,
    self_cancel_refusal,
)
from bookings.api.serializers import ISO_DATE, BookingOutputSerializer
from bookings.errors import BookingNotFound
from bookings.manage_links import ManageLinkInvalid, manage_token_check
from bookings.models import Booking, BookingDateChange, BookingRefund
from bookings.selectors import booking_get
from bookings.services import booking_cancel_by_couple, booking_date_change
from tenants.api.base import TenantApiView

MANAGE_TOKEN = OpenApiParameter(
    "X-Manage-Token",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=True,
    description="The token of the booking's 'manage my booking' link.",
)


class AnswersInputSerializer(serializers.Serializer):
    answers = serializers.DictField(allow_empty=True)


class CoupleBookingOutputSerializer(serializers.Serializer):
    booking = BookingOutputSerializer()
    answers = serializers.DictField()
    answers_editable = serializers.BooleanField()
    cancellation_policy = serializers.ListField(child=serializers.DictField(), allow_null=True)


class CoupleApiView(TenantApiView):
    def couple_booking(self, request: Request, booking_id: str) -> Booking:
        booking = booking_get(tenant=self.tenant, booking_id=booking_id)
        try:
            manage_token_check(request.headers.get("X-Manage-Token", ""), booking_id=booking.pk)
        except ManageLinkInvalid:
            raise BookingNotFound() from None
        return booking

    def couple_view(self, booking: Booking) -> dict:
        policy = policy_for(tenant=self.tenant)
        return CoupleBookingOutputSerializer(
            {
                "booking": booking,
                "answers": booking.answers,
                "answers_editable": answers_editable_reason(booking=booking, policy=policy) is None,
                "cancellation_policy": booking.cancellation_policy,
            }
        ).data


class CoupleBookingApi(CoupleApiView):
    @extend_schema(
        parameters=[MANAGE_TOKEN],
        responses=CoupleBookingOutputSerializer,
        operation_id="couple_booking_retrieve",
    )
    def get(self, request: Request, booking_id: str) -> Response:
        return Response(self.couple_view(self.couple_booking(request, booking_id)))


class CoupleAnswersApi(CoupleApiView):
    @extend_schema(
        parameters=[MANAGE_TOKEN],
        request=AnswersInputSerializer,
        responses=CoupleBookingOutputSerializer,
        operation_id="couple_answers_update",
    )
    def put(self, request: Request, booking_id: str) -> Response:
        booking = self.couple_booking(request, booking_id)
        body = AnswersInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        booking_answers_update(
            tenant=self.tenant, booking_id=booking.pk, raw=body.validated_data["answers"]
        )
        return Response(self.couple_view(booking_get(tenant=self.tenant, booking_id=booking.pk)))


class CancellationQuoteOutputSerializer(serializers.Serializer):
    self_cancel_allowed = serializers.BooleanField()
    refusal = serializers.CharField(allow_null=True)
    refund_cents = serializers.IntegerField(allow_null=True)
    currency = serializers.CharField()
    cancellation_policy = serializers.ListField(child=serializers.DictField(), allow_null=True)


class CancelInputSerializer(serializers.Serializer):
    # The refund the couple was shown (GET …/cancellation): if the policy
    # gives another amount now, nothing happens (409 booking_changed).
    expected_refund_cents = serializers.IntegerField(
        required=False, allow_null=True, default=None, min_value=0
    )


class CancelOutputSerializer(serializers.Serializer):
    booking = BookingOutputSerializer()
    refund_cents = serializers.IntegerField()


class CancellationRequestInputSerializer(serializers.Serializer):
    message = serializers.CharField(max_length=2000, required=False, default="", allow_blank=True)


class CancellationRequestOutputSerializer(serializers.Serializer):
    requested_at = serializers.DateTimeField(source="created_at")


class CoupleCancellationApi(CoupleApiView):
    @extend_schema(
        parameters=[MANAGE_TOKEN],
        responses=CancellationQuoteOutputSerializer,
        operation_id="couple_cancellation_quote",
    )
    def get(self, request: Request, booking_id: str) -> Response:
        booking = self.couple_booking(request, booking_id)
        refusal = self_cancel_refusal(booking=booking, policy=policy_for(tenant=self.tenant))
        data = {
            "self_cancel_allowed": refusal is None,
            "refusal": refusal,
            "refund_cents": policy_refund_now(booking=booking) if refusal is None else None,
            "currency": booking.currency,
            "cancellation_policy": booking.cancellation_policy,
        }
        return Response(CancellationQuoteOutputSerializer(data).data)


class CoupleCancelApi(CoupleApiView):
    @extend_schema(
        parameters=[MANAGE_TOKEN],
        request=CancelInputSerializer,
        responses=CancelOutputSerializer,
        operation_id="couple_cancel",
    )
    def post(self, request: Request, booking_id: str) -> Response:
        booking = self.couple_booking(request, booking_id)
        body = CancelInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        booking_cancel_by_couple(
            tenant=self.tenant,
            booking_id=booking.pk,
            expected_refund_cents=body.validated_data["expected_refund_cents"],
        )
        booking = booking_get(tenant=self.tenant, booking_id=booking.pk)
        refund = sum(
            r.amount_cents
            for r in booking.refunds.all()
            if r.reason == BookingRefund.Reason.COUPLE_CANCEL
        )
        return Response(CancelOutputSerializer({"booking": booking, "refund_cents": refund}).data)


class CoupleCancellationRequestApi(CoupleApiView):
    @extend_schema(
        parameters=[MANAGE_TOKEN],
        request=CancellationRequestInputSerializer,
        responses={201: CancellationRequestOutputSerializer},
        operation_id="couple_cancellation_request",
    )
    def post(self, request: Request, booking_id: str) -> Response:
        booking = self.couple_booking(request, booking_id)
        body = CancellationRequestInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        created = cancellation_request_create(
            tenant=self.tenant, booking_id=booking.pk, message=body.validated_data["message"]
        )
        return Response(CancellationRequestOutputSerializer(created).data, status=201)


class DateChangeInputSerializer(serializers.Serializer):
    event_date = serializers.DateField(input_formats=ISO_DATE)


class DateChangeOutputSerializer(serializers.Serializer):
    booking = BookingOutputSerializer()
    from_date = serializers.DateField()
    to_date = serializers.DateField()
    price_difference_cents = serializers.IntegerField()
    fee_cents = serializers.IntegerField()
    refund_cents = serializers.IntegerField()
    due_cents = serializers.IntegerField()


class CoupleDateChangeApi(CoupleApiView):
    @extend_schema(
        parameters=[MANAGE_TOKEN],
        request=DateChangeInputSerializer,
        responses=DateChangeOutputSerializer,
        operation_id="couple_date_change",
    )
    def post(self, request: Request, booking_id: str) -> Response:
        booking = self.couple_booking(request, booking_id)
        body = DateChangeInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        change = booking_date_change(
            tenant=self.tenant,
            booking_id=booking.pk,
            new_date=body.validated_data["event_date"],
            by=BookingDateChange.By.COUPLE,
        )
        data = {
            "booking": booking_get(tenant=self.tenant, booking_id=booking.pk),
            "from_date": change.from_date,
            "to_date": change.to_date,
            "price_difference_cents": change.price_difference_cents,
            "fee_cents": change.fee_cents,
            "refund_cents": change.refund_cents,
            "due_cents": change.due_cents,
        }
        return Response(DateChangeOutputSerializer(data).data)
