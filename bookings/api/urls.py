from django.urls import path

from bookings.api.couple import (
    CoupleAnswersApi,
    CoupleBookingApi,
    CoupleCancelApi,
    CoupleCancellationApi,
    CoupleCancellationRequestApi,
    CoupleDateChangeApi,
)
from bookings.api.views import (
    AvailabilityDateApi,
    AvailabilityRangeApi,
    BookingDetailApi,
    CheckoutApi,
    TermsApi,
)

urlpatterns = [
    path("availability", AvailabilityRangeApi.as_view(), name="api-availability"),
    path("availability/<str:date>", AvailabilityDateApi.as_view(), name="api-availability-date"),
    path("terms", TermsApi.as_view(), name="api-terms"),
    path("checkout", CheckoutApi.as_view(), name="api-checkout"),
    path("bookings/<str:booking_id>", BookingDetailApi.as_view(), name="api-booking"),
    path("bookings/<str:booking_id>/manage", CoupleBookingApi.as_view(), name="api-couple-booking"),
    path(
        "bookings/<str:booking_id>/answers", CoupleAnswersApi.as_view(), name="api-couple-answers"
    ),
    path(
        "bookings/<str:booking_id>/cancellation",
        CoupleCancellationApi.as_view(),
        name="api-couple-cancellation",
    ),
    path("bookings/<str:booking_id>/cancel", CoupleCancelApi.as_view(), name="api-couple-cancel"),
    path(
        "bookings/<str:booking_id>/date-change",
        CoupleDateChangeApi.as_view(),
        name="api-couple-date-change",
    ),
    path(
        "bookings/<str:booking_id>/cancellation-request",
        CoupleCancellationRequestApi.as_view(),
        name="api-couple-cancellation-request",
    ),
]
