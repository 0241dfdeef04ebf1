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

from bookings.agreements import answers_editable_reason, booking_answers_update, policy_for
from bookings.api.serializers import BookingOutputSerializer
from bookings.errors import BookingNotFound
from bookings.manage_links import ManageLinkInvalid, manage_token_check
from bookings.models import Booking
from bookings.selectors import booking_get
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
