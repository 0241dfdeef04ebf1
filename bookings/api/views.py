"""The couples' booking endpoints: validate -> service/selector -> serialize."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import ErrorDetail, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from bookings.agreements import terms_current
from bookings.api.idempotency import idempotent_call, request_fingerprint
from bookings.api.serializers import (
    AvailabilityDateInputSerializer,
    AvailabilityDateOutputSerializer,
    AvailabilityRangeInputSerializer,
    AvailabilityRangeOutputSerializer,
    BookingOutputSerializer,
    CheckoutInputSerializer,
    CheckoutOutputSerializer,
    TermsOutputSerializer,
)
from bookings.selectors import availability_for_date, availability_for_range, booking_get
from bookings.services import booking_checkout
from config.errors import NotFound
from tenants.api.base import TenantApiView
from tenants.api.throttling import client_address, client_ident


class AvailabilityRangeApi(TenantApiView):
    @extend_schema(
        parameters=[AvailabilityRangeInputSerializer],
        responses=AvailabilityRangeOutputSerializer,
        operation_id="availability_range",
    )
    def get(self, request: Request) -> Response:
        query = AvailabilityRangeInputSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        start, end = query.validated_data["start"], query.validated_data["end"]
        unavailable = availability_for_range(tenant=self.tenant, start=start, end=end)
        # Up to 366 entries: built directly in the shape the output
        # serializer documents (a DRF serializer per entry cost more than
        # the two queries).
        return Response(
            {
                "start": start.isoformat(),
                "end": end.isoformat(),
                "unavailable": [
                    {"date": entry.date.isoformat(), "reason": entry.reason}
                    for entry in unavailable
                ],
            }
        )


class AvailabilityDateApi(TenantApiView):
    @extend_schema(
        parameters=[OpenApiParameter("date", OpenApiTypes.DATE, OpenApiParameter.PATH)],
        responses=AvailabilityDateOutputSerializer,
        operation_id="availability_date",
    )
    def get(self, request: Request, date: str) -> Response:
        path = AvailabilityDateInputSerializer(data={"date": date})
        path.is_valid(raise_exception=True)
        day = path.validated_data["date"]
        reason = availability_for_date(tenant=self.tenant, day=day)
        data = {"date": day, "available": reason is None, "reason": reason}
        return Response(AvailabilityDateOutputSerializer(data).data)


class CheckoutApi(TenantApiView):
    @extend_schema(
        request=CheckoutInputSerializer,
        responses={201: CheckoutOutputSerializer},
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                description="Same key and body within 24 h: the same answer, no second hold.",
            )
        ],
        operation_id="checkout_create",
    )
    def post(self, request: Request) -> Response:
        def checkout() -> tuple[int, dict]:
            body = CheckoutInputSerializer(data=request.data)
            body.is_valid(raise_exception=True)
            fields = body.validated_data
            started = booking_checkout(
                tenant=self.tenant,
                package_slug=fields["package"],
                add_on_slugs=fields["add_ons"],
                event_date=fields["event_date"],
                couple_name=fields["couple_name"],
                email=fields["email"],
                phone=fields["phone"],
                notes=fields["notes"],
                client_address=client_ident(request),
                accept_terms_version=fields["accept_terms_version"],
                terms_accepted_from=client_address(request),
                answers=fields["answers"],
            )
            data = {"booking": started.booking, "checkout_url": started.checkout_url}
            return 201, CheckoutOutputSerializer(data).data

        key = request.headers.get("Idempotency-Key")
        if key is not None and not 1 <= len(key) <= 255:
            raise ValidationError(
                {"Idempotency-Key": ErrorDetail("Use 1 to 255 characters.", code="invalid")}
            )
        if key is None:
            status, body = checkout()
        else:
            status, body = idempotent_call(
                tenant=self.tenant,
                key=key,
                fingerprint=request_fingerprint(request.data),
                run=checkout,
            )
        return Response(body, status=status)


class BookingDetailApi(TenantApiView):
    @extend_schema(responses=BookingOutputSerializer, operation_id="booking_retrieve")
    def get(self, request: Request, booking_id: str) -> Response:
        booking = booking_get(tenant=self.tenant, booking_id=booking_id)
        return Response(BookingOutputSerializer(booking).data)


class TermsApi(TenantApiView):
    """The terms in force; checkout's `accept_terms_version` names its version."""

    @extend_schema(responses=TermsOutputSerializer, operation_id="terms_retrieve")
    def get(self, request: Request) -> Response:
        terms = terms_current(tenant=self.tenant)
        if terms is None:
            raise NotFound("This business has no terms to accept.")
        return Response(TermsOutputSerializer(terms).data)
