"""The couple-facing pages. Each view: find the tenant or booking, call the
same selectors and services as the API, render a template.

No CSRF token and no cookie on these pages, on purpose: they carry no
session or other ambient authority (like the public API, anyone may start a
checkout), and they are framed on the tenant's own website, where a
third-party cookie (the CSRF cookie) would not even be sent. Capabilities
are explicit: the booking's unguessable id, or a signed manage link.
"""

from __future__ import annotations

import datetime as dt
import uuid
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from bookings.agreements import (
    answers_editable_reason,
    booking_answers_update,
    cancellation_request_create,
    policy_for,
    policy_refund_now,
    questions_active,
    self_cancel_refusal,
    terms_current,
)
from bookings.balances import pay_link_open
from bookings.errors import (
    AddOnNotAllowed,
    AnswersInvalid,
    BookingChangedMeanwhile,
    BookingNotCancelable,
    DateUnavailable,
    PackageNotOffered,
    PaymentProviderError,
    PolicyForbidsChange,
    TermsNotAccepted,
)
from bookings.manage_links import ManageLinkInvalid, manage_token_check
from bookings.models import Booking, BookingDateChange, CancellationRequest
from bookings.notifications import booking_ics, policy_lines
from bookings.selectors import booking_balance_due_cents
from bookings.services import (
    booking_cancel_by_couple,
    booking_checkout,
    booking_date_change,
    booking_expire,
    date_change_quote,
)
from config.csp import allow_framing
from config.errors import DomainError
from storefront import presenters
from storefront.branding import tenant_theme
from storefront.forms import BookingForm, LinkRequestForm
from storefront.language import page_language
from storefront.services import booking_language_set, manage_links_request
from tenants.api.throttling import client_address
from tenants.audit import actor_context
from tenants.errors import TenantNotFound
from tenants.models import ApiKey, Tenant
from tenants.scoping import scopes_disabled, tenant_scope
from tenants.selectors import api_key_resolve, tenant_get

# While a paid booking waits for Stripe's webhook, the success page checks
# again this often (a script swaps the status in place; without JavaScript a
# <noscript> meta refresh reloads the page).
REFRESH_SECONDS = 3
FRAGMENT_HEADER = "X-Altar-Fragment"


# --- helpers -----------------------------------------------------------------


def _tenant(slug: str) -> Tenant:
    try:
        tenant = tenant_get(slug=slug)
    except TenantNotFound:
        raise Http404("No such business.") from None
    if not tenant.active:
        raise Http404("No such business.")
    return tenant


def checkout_origin() -> str:
    """Where Stripe Checkout pages live: checkout.stripe.com, or the stand-in
    (its hosted pages share its API's origin) when STRIPE_API_BASE points at one."""
    base = urlsplit(settings.STRIPE_API_BASE)
    if base.hostname == "api.stripe.com":
        return "https://checkout.stripe.com"
    return f"{base.scheme}://{base.netloc}"


def _page(
    request: HttpRequest,
    template: str,
    context: dict,
    *,
    tenant: Tenant | None,
    status: int = 200,
) -> HttpResponse:
    context = {
        **context,
        "tenant": tenant,
        "theme": tenant_theme(tenant) if tenant else None,
        "lang": translation.get_language(),
        "embed": request.GET.get("embed") == "1" or request.POST.get("embed") == "1",
    }
    response = render(request, template, context, status=status)
    # One place says what may frame the couple's pages: the tenant's own
    # websites (its CORS origins, validated as origins), nobody else.
    allow_framing(response, tenant.cors_origins if tenant else [])
    # Without JavaScript the booking form posts here and is redirected to
    # Stripe Checkout; CSP's form-action also governs that redirect, so
    # Checkout's origin is allowed next to this one.
    response._csp_update = {**(getattr(response, "_csp_update", None) or {}),
                            "form-action": [checkout_origin()]}  # fmt: skip
    response["Cache-Control"] = "no-store"
    response["Content-Language"] = translation.get_language()
    return response


def _wants_fragment(request: HttpRequest) -> bool:
    return request.headers.get(FRAGMENT_HEADER) == "1"


def _lang_query(request: HttpRequest, **extra: str) -> str:
    params = {k: v for k, v in extra.items() if v}
    if request.GET.get("lang") or request.POST.get("lang"):
        params["lang"] = translation.get_language()
    if request.GET.get("embed") == "1" or request.POST.get("embed") == "1":
        params["embed"] = "1"
    return ("?" + urlencode(params)) if params else ""


# --- the booking page --------------------------------------------------------


def _month_param(value: str | None) -> dt.date | None:
    try:
        return dt.datetime.strptime(value or "", "%Y-%m").date()
    except ValueError:
        return None


def _booking_context(
    request: HttpRequest, tenant: Tenant, form: BookingForm, month: dt.date | None
) -> dict:
    packages = presenters.packages_for(tenant)
    first, last = presenters.bookable_range(tenant)
    chosen_date = getattr(form, "cleaned_data", {}).get("event_date")
    data = form.data if form.is_bound else {}
    selected_package = data.get("package") or (packages[0].slug if len(packages) == 1 else "")
    checked_add_ons = {
        f"{p.slug}:{slug}"
        for p in packages
        for slug in (data.getlist(f"add_ons_{p.slug}") if data else [])
    }
    return {
        "packages": packages,
        "selected_package": selected_package,
        "checked_add_ons": checked_add_ons,
        "form": form,
        "calendar": presenters.calendar_month(tenant=tenant, month=month or chosen_date or first),
        "first_date": first,
        "last_date": last,
        "money_format": presenters.money_format(tenant.currency),
        "currency": tenant.currency,
        "action_query": _lang_query(request),
        "terms": terms_current(tenant=tenant),
        "terms_checked": bool(data.get("accept_terms")) if data else False,
        "questions": [
            presenters.QuestionField(
                question=q,
                value=data.get(f"answer_{q.key}", "") if data else "",
                errors=form.errors.get(f"answer_{q.key}", []) if form.is_bound else [],
            )
            for q in questions_active(tenant=tenant)
        ],
        "policy_lines": policy_lines(
            tiers=policy_for(tenant=tenant).cancellation_tiers, event_date=chosen_date
        ),
    }


@csrf_exempt
@xframe_options_exempt
@require_http_methods(["GET", "POST"])
def booking_page(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    tenant = _tenant(tenant_slug)
    with tenant_scope(tenant), translation.override(page_language(request, tenant)):
        if request.method == "POST":
            return _checkout(request, tenant)
        month = _month_param(request.GET.get("month"))
        context = _booking_context(request, tenant, BookingForm(), month)
        return _page(request, "storefront/book.html", context, tenant=tenant)


@xframe_options_exempt
@require_GET
def calendar_fragment(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    """One month of the calendar, for the page's script (no full reload)."""
    tenant = _tenant(tenant_slug)
    month = _month_param(request.GET.get("month")) or presenters.bookable_range(tenant)[0]
    with tenant_scope(tenant), translation.override(page_language(request, tenant)):
        context = {"calendar": presenters.calendar_month(tenant=tenant, month=month)}
        return _page(request, "storefront/_calendar.html", context, tenant=tenant)


def _refusal(exc: DomainError, tenant: Tenant, day: dt.date | None) -> tuple[str, str | None]:
    """(sentence with the way forward, the form field it concerns)."""
    if isinstance(exc, DateUnavailable) and day is not None:
        return presenters.date_refusal(reason=exc.reason, day=day, tenant=tenant), "event_date"
    if isinstance(exc, TermsNotAccepted):
        if exc.problem == "outdated":
            return _(
                "The terms changed while you were booking. Please read the current terms "
                "and tick the box again."
            ), "accept_terms"
        return _("Please read and accept the terms to book."), "accept_terms"
    if isinstance(exc, PackageNotOffered):
        return _(
            "Sorry, this package is no longer offered. Please choose another package; "
            "your other choices are kept."
        ), "package"
    if isinstance(exc, AddOnNotAllowed):
        return _(
            "Sorry, an add-on you chose is no longer offered with this package. "
            "Please review your add-ons and continue."
        ), "package"
    if isinstance(exc, PaymentProviderError):
        return _(
            "We could not reach our payment provider, so nothing was charged and your date "
            "is not held. Please try again in a few minutes."
        ), None
    if exc.code == "hold_limit_reached":
        return _(
            "There are already several unpaid bookings waiting for payment from you. "
            "Please finish or cancel one of them (see the e-mail we sent), or try again later."
        ), None
    if exc.code == "rate_limited":
        return _("Too many attempts in a short time. Please wait a minute and try again."), None
    return _(
        "We could not start your booking. Please check your choices and try again; if it "
        "keeps happening, contact %(business)s."
    ) % {"business": tenant.name}, None


def _checkout(request: HttpRequest, tenant: Tenant) -> HttpResponse:
    form = BookingForm(request.POST)
    problem: str | None = None
    problem_field: str | None = None
    status = 400
    if form.is_valid():
        fields = form.cleaned_data
        try:
            with actor_context("couple", "couple (booking page)"):
                started = booking_checkout(
                    tenant=tenant,
                    package_slug=fields["package"],
                    add_on_slugs=form.add_on_slugs(request.POST),
                    event_date=fields["event_date"],
                    couple_name=fields["couple_name"],
                    email=fields["email"],
                    phone=fields["phone"],
                    notes=fields["notes"],
                    terms_accepted_from=client_address(request),
                    accept_terms_version=form.accepted_terms_version(),
                    answers=form.answers(request.POST, questions_active(tenant=tenant)),
                )
        except AnswersInvalid as exc:
            for name, errors in exc.fields.items():
                key = name.removeprefix("answers.")
                for error in errors:
                    form.errors.setdefault(f"answer_{key}", form.error_class()).append(
                        presenters.answer_error(error["code"])
                    )
            status = exc.status
        except DomainError as exc:
            problem, problem_field = _refusal(exc, tenant, fields["event_date"])
            status = exc.status
        except ValidationError as exc:
            errors = exc.message_dict if hasattr(exc, "error_dict") else {None: exc.messages}
            for name, messages in errors.items():
                target = name if name in form.fields else None
                for message in messages:
                    form.add_error(target, message)
        else:
            booking_language_set(
                tenant=tenant, booking_id=started.booking.pk, language=translation.get_language()
            )
            if _wants_fragment(request):
                return JsonResponse({"redirect": started.checkout_url})
            return redirect(started.checkout_url)
    if problem is None and form.non_field_errors():
        problem = " ".join(form.non_field_errors())
    if problem is None:
        problem = _("Please correct the highlighted fields below.")
    if _wants_fragment(request):
        errors = {name: [str(m) for m in messages] for name, messages in form.errors.items()}
        if problem_field:
            errors.setdefault(problem_field, []).append(problem)
        return JsonResponse(
            {"error": problem, "fields": errors, "refresh_calendar": problem_field == "event_date"},
            status=status,
        )
    if problem_field:
        form.add_error(problem_field if problem_field in form.fields else None, problem)
    context = _booking_context(request, tenant, form, None)
    context["problem"] = problem
    return _page(request, "storefront/book.html", context, tenant=tenant, status=status)


# --- the widget --------------------------------------------------------------


@require_GET
def widget_key_redirect(request: HttpRequest, key: str) -> HttpResponse:
    """The embed script knows the publishable key, not the slug."""
    api_key = api_key_resolve(key=key, kind=ApiKey.Kind.PUBLISHABLE)
    if api_key is None or not api_key.tenant.active:
        raise Http404("No such business.")
    params = {"embed": "1"}
    if request.GET.get("lang"):
        params["lang"] = request.GET["lang"]
    url = reverse("storefront:book", args=[api_key.tenant.slug]) + "?" + urlencode(params)
    response = redirect(url)
    response["Cache-Control"] = "no-store"
    return response


# --- after Checkout: success, canceled, status --------------------------------


def _booking(booking_id: uuid.UUID) -> Booking:
    """The id is an unguessable UUID: the capability to see the page (like
    the API's booking view), so the lookup is by id alone."""
    with scopes_disabled():
        booking = (
            Booking.objects.select_related("package", "tenant", "terms_version")
            .prefetch_related("add_on_lines", "refunds")
            .filter(pk=booking_id)
            .first()
        )
        if booking is None:
            raise Http404("No such booking.")
        # Evaluate the prefetches while scopes are off.
        list(booking.add_on_lines.all())
        list(booking.refunds.all())
    return booking


def _book_url(tenant: Tenant) -> str:
    """The booking page, in the language this page speaks."""
    return reverse("storefront:book", args=[tenant.slug]) + f"?lang={translation.get_language()}"


def _booking_language(request: HttpRequest, booking: Booking) -> str:
    if request.GET.get("lang"):
        return page_language(request, booking.tenant)
    return booking.language or page_language(request, booking.tenant)


def _status_context(booking: Booking) -> dict:
    lines, total = presenters.receipt_lines(booking)
    return {
        "booking": booking,
        "status": booking.public_status,
        "event_date": presenters.long_date(booking.event_date),
        "lines": lines,
        "total": total,
        "paid": presenters.money(booking.paid_cents, booking.currency),
        "balance_due_cents": booking_balance_due_cents(booking),
        "balance_due": presenters.money(booking_balance_due_cents(booking), booking.currency),
        "balance_due_on": presenters.long_date(booking.balance_due_on)
        if booking.balance_due_on
        else "",
        "refunded": presenters.money(booking.refunded_cents, booking.currency),
        "refunds": [
            (refund, presenters.money(refund.amount_cents, booking.currency))
            for refund in booking.refunds.all()
        ],
    }


@xframe_options_exempt
@require_GET
def booking_status_page(request: HttpRequest, booking_id: uuid.UUID) -> HttpResponse:
    """Stripe Checkout's success and cancel URL (`?checkout=success|canceled`)
    and the booking's public status page (the old `/bookings/{id}/`)."""
    booking = _booking(booking_id)
    tenant = booking.tenant
    returned = request.GET.get("checkout")
    if (
        returned == "canceled"
        and booking.public_status == Booking.Status.HELD
        and not (booking.paid_cents)
    ):
        # The couple pressed Cancel on Stripe's page, which only redirects:
        # give the date back now rather than when the hold lapses.
        with tenant_scope(tenant), actor_context("couple", "couple (checkout canceled)"):
            booking_expire(tenant=tenant, booking_id=booking.pk, reason="couple_canceled")
        booking = _booking(booking_id)
    with (
        timezone.override(tenant.timezone),
        translation.override(_booking_language(request, booking)),
    ):
        context = {
            **_status_context(booking),
            "returned": returned if returned in ("success", "canceled") else None,
            "refresh_seconds": REFRESH_SECONDS
            if booking.public_status == Booking.Status.HELD and returned == "success"
            else None,
            "book_again_url": _book_url(tenant),
        }
        template = (
            "storefront/_status.html" if _wants_fragment(request) else "storefront/status.html"
        )
        return _page(request, template, context, tenant=tenant)


# --- manage my booking -------------------------------------------------------


def _manage_booking(booking_id: uuid.UUID, token: str) -> Booking | None:
    try:
        manage_token_check(token, booking_id=booking_id)
    except ManageLinkInvalid:
        return None
    try:
        return _booking(booking_id)
    except Http404:
        return None


def _invalid_link(request: HttpRequest) -> HttpResponse:
    """Forged, expired, or another booking's link: a friendly page that
    changes nothing and says how to get a fresh link."""
    with translation.override(page_language(request, None)):
        return _page(request, "storefront/link_invalid.html", {}, tenant=None, status=404)


@require_GET
def manage_page(request: HttpRequest, booking_id: uuid.UUID, token: str) -> HttpResponse:
    booking = _manage_booking(booking_id, token)
    if booking is None:
        return _invalid_link(request)
    tenant = booking.tenant
    with (
        timezone.override(tenant.timezone),
        translation.override(_booking_language(request, booking)),
    ):
        context = {**_manage_context(request, booking, token), **_balance_context(request, booking)}
        response = _page(request, "storefront/manage.html", context, tenant=tenant)
    # The link is the credential: keep it out of other sites' logs.
    response["Referrer-Policy"] = "no-referrer"
    return response


@require_POST
def manage_pay_balance(request: HttpRequest, booking_id: uuid.UUID, token: str) -> HttpResponse:
    """The balance pay link: a Checkout Session for what is due (a fresh one
    when the last has lapsed), then Stripe's page."""
    booking = _manage_booking(booking_id, token)
    if booking is None:
        return _invalid_link(request)
    tenant = booking.tenant
    back = reverse("storefront:manage", args=[booking.pk, token])
    with tenant_scope(tenant), actor_context("couple", "couple (balance pay link)"):
        try:
            url = pay_link_open(tenant=tenant, booking_id=booking.pk)
        except ValidationError:
            return redirect(back)
        except PaymentProviderError:
            return redirect(back + "?pay=unavailable")
    response = redirect(url)
    response.status_code = 303
    return response


def _manage_context(
    request: HttpRequest,
    booking: Booking,
    token: str,
    *,
    answers_data: dict | None = None,
    answer_errors: dict | None = None,
    move_problem: str | None = None,
) -> dict:
    tenant = booking.tenant
    with tenant_scope(tenant):
        policy = policy_for(tenant=tenant)
        questions = questions_active(tenant=tenant)
        answers_locked = answers_editable_reason(booking=booking, policy=policy)
    answers = booking.answers or {}
    base = _manage_base(booking, token)
    return {
        **_status_context(booking),
        "ics_url": base + "calendar.ics",
        "google_url": google_calendar_url(booking),
        "book_again_url": _book_url(tenant),
        "manage_base": base,
        "lang_query": _lang_query(request),
        "saved": request.GET.get("saved"),
        "answered": [(q.label, answers[q.key]) for q in questions if q.key in answers],
        "answers_editable": answers_locked is None and bool(questions),
        "questions": [
            presenters.QuestionField(
                question=q,
                value=(answers_data or {}).get(f"answer_{q.key}", answers.get(q.key, "")),
                errors=(answer_errors or {}).get(f"answer_{q.key}", []),
            )
            for q in questions
        ],
        "policy_lines": policy_lines(
            tiers=booking.cancellation_policy,
            event_date=booking.event_date,
            today=presenters.tenant_today(tenant=booking.tenant),
        ),
        **_cancel_context(booking, policy),
        **_move_context(booking, problem=move_problem),
    }


def _move_context(booking: Booking, *, problem: str | None = None) -> dict:
    with tenant_scope(booking.tenant):
        quote = date_change_quote(booking=booking, by=BookingDateChange.By.COUPLE)
        first, last = presenters.bookable_range(booking.tenant)
    currency = booking.currency
    return {
        "can_move": quote.refusal is None,
        "move_refusal": quote.refusal,
        "move_fee": presenters.money(quote.fee_cents, currency) if quote.fee_cents else "",
        "move_due": presenters.money(quote.due_cents, currency) if quote.due_cents else "",
        "move_refund": presenters.money(quote.refund_cents, currency) if quote.refund_cents else "",
        "move_first": first,
        "move_last": last,
        "move_problem": problem,
    }


def _cancel_context(booking: Booking, policy) -> dict:
    """What the couple may do about canceling, and the refund it gives today."""
    with tenant_scope(booking.tenant):
        refusal = self_cancel_refusal(booking=booking, policy=policy)
        refund = policy_refund_now(booking=booking) if refusal is None else None
        open_request = (
            CancellationRequest.objects.filter(
                tenant=booking.tenant, booking=booking, resolved_at__isnull=True
            )
            .order_by("-created_at")
            .first()
        )
    return {
        "can_cancel": refusal is None,
        # Staff decide when the couple may not cancel online, or when part of
        # the refund was paid outside Stripe and staff return it themselves.
        "can_request_cancel": refusal in ("self_cancel_off", "paid_outside_stripe"),
        "paid_outside_stripe": refusal == "paid_outside_stripe",
        "cancel_request": open_request,
        "refund_today_cents": refund,
        "refund_today": presenters.money(refund, booking.currency) if refund is not None else "",
    }


def _manage_response(
    request: HttpRequest, booking: Booking, token: str, *, status: int = 200, **extra
) -> HttpResponse:
    with (
        timezone.override(booking.tenant.timezone),
        translation.override(_booking_language(request, booking)),
    ):
        context = {
            **_manage_context(request, booking, token, **extra),
            **_balance_context(request, booking),
        }
        response = _page(
            request, "storefront/manage.html", context, tenant=booking.tenant, status=status
        )
    response["Referrer-Policy"] = "no-referrer"
    return response


def _balance_context(request: HttpRequest, booking: Booking) -> dict:
    """A balance the couple may pay now: the charge failed, or staff sent the
    link; a scheduled one is charged to the saved card."""
    return {
        "can_pay_balance": booking.balance_state == Booking.BalanceState.FAILED
        or (
            booking.balance_state == Booking.BalanceState.SCHEDULED
            and booking.reminders.filter(kind__startswith="balance_link").exists()
        ),
        "pay_problem": request.GET.get("pay") == "unavailable",
    }


def _manage_base(booking: Booking, token: str) -> str:
    """The manage page under the link the couple used (a fresh token would
    restart the link's lifetime and make every page's URL different)."""
    return reverse("storefront:manage", args=[booking.pk, token])


def _manage_saved(request: HttpRequest, booking: Booking, token: str, what: str) -> HttpResponse:
    query = _lang_query(request, saved=what)
    response = redirect(_manage_base(booking, token) + query)
    response["Referrer-Policy"] = "no-referrer"
    return response


@csrf_exempt
@require_http_methods(["POST"])
def manage_answers(request: HttpRequest, booking_id: uuid.UUID, token: str) -> HttpResponse:
    """The couple edits their answers (until the policy's limit)."""
    booking = _manage_booking(booking_id, token)
    if booking is None:
        return _invalid_link(request)
    tenant = booking.tenant
    with tenant_scope(tenant), actor_context("couple", "couple (manage my booking)"):
        questions = questions_active(tenant=tenant)
        raw = {q.key: request.POST.get(f"answer_{q.key}", "")[:2000] for q in questions}
        try:
            booking_answers_update(tenant=tenant, booking_id=booking.pk, raw=raw)
        except AnswersInvalid as exc:
            errors = {
                "answer_" + name.removeprefix("answers."): [
                    presenters.answer_error(e["code"]) for e in field_errors
                ]
                for name, field_errors in exc.fields.items()
            }
            return _manage_response(
                request, booking, token, status=400, answers_data=request.POST, answer_errors=errors
            )
        except PolicyForbidsChange:
            return _manage_response(request, booking, token, status=409)
    return _manage_saved(request, booking, token, "answers")


@require_GET
def manage_calendar(request: HttpRequest, booking_id: uuid.UUID, token: str) -> HttpResponse:
    booking = _manage_booking(booking_id, token)
    if booking is None:
        return _invalid_link(request)
    response = HttpResponse(booking_ics(booking), content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="wedding.ics"'
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"
    return response


def google_calendar_url(booking: Booking) -> str:
    day = booking.event_date
    params = {
        "action": "TEMPLATE",
        "text": f"{booking.package.title} — {booking.tenant.name}",
        "dates": f"{day:%Y%m%d}/{day + dt.timedelta(days=1):%Y%m%d}",
        "details": _("Booking reference: %(id)s") % {"id": booking.pk},
    }
    return "https://calendar.google.com/calendar/render?" + urlencode(params)


@csrf_exempt
@xframe_options_exempt
@require_http_methods(["GET", "POST"])
def link_request_page(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    """ "Send me my link": the same answer whether or not the address has
    bookings here, so the form tells nobody who booked."""
    tenant = _tenant(tenant_slug)
    with tenant_scope(tenant), translation.override(page_language(request, tenant)):
        form = LinkRequestForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            manage_links_request(
                tenant=tenant, email=form.cleaned_data["email"], language=translation.get_language()
            )
            context = {"sent": True, "action_query": _lang_query(request)}
            return _page(request, "storefront/link_request.html", context, tenant=tenant)
        context = {"form": form, "sent": False, "action_query": _lang_query(request)}
        status = 400 if form.is_bound else 200
        return _page(request, "storefront/link_request.html", context, tenant=tenant, status=status)


@require_GET
def theme_css(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    """The tenant's colours and font as CSS variables: a stylesheet of its
    own, so the pages need no inline style (CSP) and browsers cache it; the
    URL carries the catalog version, which every branding change bumps."""
    tenant = _tenant(tenant_slug)
    response = HttpResponse(tenant_theme(tenant).css(), content_type="text/css; charset=utf-8")
    response["Cache-Control"] = "public, max-age=86400"
    return response


@csrf_exempt
@require_http_methods(["GET", "POST"])
def manage_cancel(request: HttpRequest, booking_id: uuid.UUID, token: str) -> HttpResponse:
    """The couple cancels: GET shows the refund the policy gives today and
    asks to confirm; POST cancels if that is still the amount (the service
    decides it again under the booking's lock)."""
    booking = _manage_booking(booking_id, token)
    if booking is None:
        return _invalid_link(request)
    tenant = booking.tenant
    problem, status = None, 200
    if request.method == "POST":
        try:
            expected = int(request.POST.get("expected_refund_cents", ""))
        except ValueError:
            expected = -1  # never the amount: the page is shown again
        with tenant_scope(tenant), actor_context("couple", "couple (manage my booking)"):
            try:
                booking_cancel_by_couple(
                    tenant=tenant, booking_id=booking.pk, expected_refund_cents=expected
                )
            except BookingChangedMeanwhile:
                problem, status = "changed", 409
            except (PolicyForbidsChange, BookingNotCancelable):
                problem, status = "forbidden", 409
            else:
                return _manage_saved(request, booking, token, "canceled")
        booking = _booking(booking_id)
    with (
        timezone.override(tenant.timezone),
        translation.override(_booking_language(request, booking)),
    ):
        with tenant_scope(tenant):
            policy = policy_for(tenant=tenant)
        context = {
            **_status_context(booking),
            **_cancel_context(booking, policy),
            "manage_base": _manage_base(booking, token),
            "lang_query": _lang_query(request),
            "policy_lines": policy_lines(
                tiers=booking.cancellation_policy,
                event_date=booking.event_date,
                today=presenters.tenant_today(tenant=booking.tenant),
            ),
            "problem": problem,
        }
        response = _page(
            request, "storefront/manage_cancel.html", context, tenant=tenant, status=status
        )
    response["Referrer-Policy"] = "no-referrer"
    return response


@csrf_exempt
@require_http_methods(["POST"])
def manage_cancel_request(request: HttpRequest, booking_id: uuid.UUID, token: str) -> HttpResponse:
    """Self-cancel is off: the couple asks staff to cancel."""
    booking = _manage_booking(booking_id, token)
    if booking is None:
        return _invalid_link(request)
    tenant = booking.tenant
    with tenant_scope(tenant), actor_context("couple", "couple (manage my booking)"):
        try:
            cancellation_request_create(
                tenant=tenant,
                booking_id=booking.pk,
                message=request.POST.get("message", "")[:2000],
            )
        except PolicyForbidsChange:
            return _manage_response(request, booking, token, status=409)
    return _manage_saved(request, booking, token, "cancel_requested")


@csrf_exempt
@require_http_methods(["POST"])
def manage_move(request: HttpRequest, booking_id: uuid.UUID, token: str) -> HttpResponse:
    """The couple moves their wedding to another free date (if the policy
    allows it): one transaction decides it against any other couple."""
    booking = _manage_booking(booking_id, token)
    if booking is None:
        return _invalid_link(request)
    tenant = booking.tenant
    try:
        new_date = dt.date.fromisoformat(request.POST.get("event_date", ""))
    except ValueError:
        new_date = None
    problem = None
    status = 400
    with translation.override(_booking_language(request, booking)):
        if new_date is None:
            problem = _("Enter the date as YYYY-MM-DD, or pick it on the calendar.")
        else:
            with tenant_scope(tenant), actor_context("couple", "couple (manage my booking)"):
                try:
                    booking_date_change(
                        tenant=tenant,
                        booking_id=booking.pk,
                        new_date=new_date,
                        by=BookingDateChange.By.COUPLE,
                    )
                except DateUnavailable as exc:
                    problem = presenters.date_refusal(
                        reason=exc.reason, day=new_date, tenant=tenant
                    )
                    status = 409
                except PolicyForbidsChange:
                    problem = _("Your date can no longer be changed online. Please contact us.")
                    status = 409
                except ValidationError:
                    problem = _("That is already your date.")
                else:
                    return _manage_saved(request, booking, token, "moved")
    return _manage_response(
        request, _booking(booking_id), token, status=status, move_problem=problem
    )
