"""Public pages of the tenants app: the accounts pages, in the admin's look
(login, password reset through the outbox, throttled, no account
enumeration; accepting a staff invitation) and the branding stylesheet."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import SetPasswordForm
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse, reverse_lazy
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters

from tenants import ratelimit
from tenants.branding import branding_css
from tenants.errors import InvitationInvalid, InvitationWrongAccount
from tenants.forms import EmailAuthenticationForm, OutboxPasswordResetForm
from tenants.middleware import ACTIVE_TENANT_SESSION_KEY
from tenants.models import Tenant
from tenants.selectors import invitation_get
from tenants.services import invitation_accept

RESET_PERIOD_SECONDS = 3600
THROTTLED_MESSAGE = (
    "Too many password-reset requests. Please wait an hour, then try again, "
    "or ask the owner of your business for help."
)


def admin_look(request: HttpRequest, **context: Any) -> dict[str, Any]:
    """The admin site's header, title and theme for a page outside /admin/,
    without the admin's app sidebar (to a signed-out visitor it only says
    "You don't have permission to view or edit anything")."""
    return {**admin.site.each_context(request), "is_nav_sidebar_enabled": False, **context}


class AdminLookMixin:
    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return admin_look(self.request, **super().get_context_data(**kwargs))


class LoginView(AdminLookMixin, auth_views.LoginView):
    template_name = "admin/login.html"
    authentication_form = EmailAuthenticationForm

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return {**super().get_context_data(**kwargs), "app_path": self.request.get_full_path()}


class LogoutView(AdminLookMixin, auth_views.LogoutView):
    pass


class PasswordResetView(AdminLookMixin, auth_views.PasswordResetView):
    """Counts each valid request per e-mail address asked about and per
    client address, before anything else happens; over either limit the
    page answers 429 and queues nothing. The counters do not depend on
    whether the address has an account, so neither does the answer."""

    form_class = OutboxPasswordResetForm
    success_url = reverse_lazy("password_reset_done")

    def form_valid(self, form: OutboxPasswordResetForm) -> HttpResponse:
        email = form.cleaned_data["email"].strip().lower()
        allowed = ratelimit.hit(
            scope="pwreset-ip",
            ident=ratelimit.client_ident(self.request),
            limit=settings.PASSWORD_RESET_LIMIT_PER_IP,
            period=RESET_PERIOD_SECONDS,
        ) and ratelimit.hit(
            scope="pwreset-email",
            ident=email,
            limit=settings.PASSWORD_RESET_LIMIT_PER_EMAIL,
            period=RESET_PERIOD_SECONDS,
        )
        if not allowed:
            form.add_error(None, THROTTLED_MESSAGE)
            response = self.render_to_response(self.get_context_data(form=form), status=429)
            response["Retry-After"] = str(RESET_PERIOD_SECONDS)
            return response
        form.save()
        return HttpResponseRedirect(self.get_success_url())


class PasswordResetDoneView(AdminLookMixin, auth_views.PasswordResetDoneView):
    pass


class PasswordResetConfirmView(AdminLookMixin, auth_views.PasswordResetConfirmView):
    pass


class PasswordResetCompleteView(AdminLookMixin, auth_views.PasswordResetCompleteView):
    pass


class PasswordChangeView(AdminLookMixin, auth_views.PasswordChangeView):
    pass


class PasswordChangeDoneView(AdminLookMixin, auth_views.PasswordChangeDoneView):
    pass


# --- accepting a staff invitation --------------------------------------------------


def _invalid(request: HttpRequest) -> TemplateResponse:
    return TemplateResponse(
        request,
        "accounts/invitation_invalid.html",
        admin_look(request, title="Invitation link not valid", message=InvitationInvalid.message),
        status=404,
    )


def _accepted(request: HttpRequest, membership) -> HttpResponse:
    # Open the business just joined, whatever was active before.
    request.session[ACTIVE_TENANT_SESSION_KEY] = membership.tenant_id
    messages.success(request, f"Welcome to {membership.tenant.name}.")
    return HttpResponseRedirect(reverse("admin:index"))


@never_cache
@sensitive_post_parameters("new_password1", "new_password2")
def invitation_accept_view(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows the invitation; POST accepts it. A new account chooses its
    password here and is signed in; an existing account must be signed in
    (the login page brings it back here) and confirms."""
    membership = invitation_get(token=token, now=timezone.now())
    if membership is None:
        return _invalid(request)
    invitee = membership.user
    context = admin_look(
        request,
        title=f"Join {membership.tenant.name}",
        membership=membership,
        tenant=membership.tenant,
        role=membership.get_role_display().lower(),
        invitee_email=invitee.email,
    )
    if not invitee.has_usable_password():
        form = SetPasswordForm(invitee, request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            try:
                membership = invitation_accept(
                    token=token, password=form.cleaned_data["new_password1"]
                )
            except InvitationInvalid:
                return _invalid(request)
            login(request, membership.user, backend="django.contrib.auth.backends.ModelBackend")
            return _accepted(request, membership)
        return TemplateResponse(
            request, "accounts/invitation_new_account.html", {**context, "form": form}
        )
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if request.user.pk != invitee.pk:
        return TemplateResponse(
            request,
            "accounts/invitation_wrong_account.html",
            {**context, "message": InvitationWrongAccount.message},
            status=403,
        )
    if request.method == "POST":
        try:
            membership = invitation_accept(token=token, user=request.user)
        except (InvitationInvalid, InvitationWrongAccount):
            return _invalid(request)
        return _accepted(request, membership)
    return TemplateResponse(request, "accounts/invitation_existing_account.html", context)


# A URL with the current version never changes content (a branding write
# bumps the version, hence the URL); any other answer may change soon.
CACHE_VERSIONED = "public, max-age=31536000, immutable"
CACHE_UNVERSIONED = "public, max-age=60"
BRANDING_COLUMNS = ("slug", "primary_color", "secondary_color", "font_family", "catalog_version")


def tenant_branding_css(request: HttpRequest, slug: str) -> HttpResponse:
    # Branding is public (the API serves it to anyone with the publishable
    # key, and the status page shows it); Tenant is the root of tenancy,
    # not a scoped model.
    tenant = Tenant.objects.filter(slug=slug).only(*BRANDING_COLUMNS).first()
    if tenant is None:
        raise Http404("No such tenant.")
    response = HttpResponse(branding_css(tenant), content_type="text/css; charset=utf-8")
    versioned = request.GET.get("v") == str(tenant.catalog_version)
    response["Cache-Control"] = CACHE_VERSIONED if versioned else CACHE_UNVERSIONED
    return response
