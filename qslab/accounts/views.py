"""Sign-in with two-factor, profile, and personal API tokens."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django_otp import login as otp_login

from qslab.accounts import services
from qslab.accounts.forms import ApiTokenForm, ProfileForm, TokenForm
from qslab.accounts.models import ApiToken


def _safe_next(request: HttpRequest, default: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    redirect_authenticated_user = True


@login_required
def two_factor_verify(request: HttpRequest) -> HttpResponse:
    user = request.user
    if not services.has_confirmed_device(user):
        return redirect(f"{reverse('accounts:two_factor_setup')}?next={_safe_next(request, '')}")
    form = TokenForm(request.POST or None, device_check=lambda token: services.verify_totp(user, token))
    if request.method == "POST" and form.is_valid():
        otp_login(request, form.device)
        return redirect(_safe_next(request, reverse("core:dashboard")))
    return render(request, "accounts/two_factor_verify.html", {"form": form, "next": _safe_next(request, "")})


@login_required
def two_factor_setup(request: HttpRequest) -> HttpResponse:
    import segno

    user = request.user
    device = services.pending_totp_device(user)
    form = TokenForm(
        request.POST or None, device_check=lambda token: services.confirm_totp_device(user, token)
    )
    if request.method == "POST" and form.is_valid():
        otp_login(request, form.device)
        messages.success(request, _("Two-factor sign-in is set up."))
        return redirect(_safe_next(request, reverse("core:dashboard")))
    qr_svg = segno.make(device.config_url, error="m").svg_inline(scale=4)
    import base64

    secret = base64.b32encode(device.bin_key).decode()
    return render(
        request,
        "accounts/two_factor_setup.html",
        {"form": form, "qr_svg": qr_svg, "secret": secret, "next": _safe_next(request, "")},
    )


@login_required
def profile(request: HttpRequest) -> HttpResponse:
    form = ProfileForm(request.POST or None, instance=request.user)
    if request.method == "POST" and form.is_valid():
        services.update_profile(request.user, form.cleaned_data)
        messages.success(request, _("Your profile is saved."))
        response = redirect("accounts:profile")
        from django.conf import settings

        response.set_cookie(settings.LANGUAGE_COOKIE_NAME, request.user.preferred_language)
        return response
    return render(request, "accounts/profile.html", {"form": form})


@login_required
def api_tokens(request: HttpRequest) -> HttpResponse:
    form = ApiTokenForm(request.POST or None)
    secret = None
    if request.method == "POST" and form.is_valid():
        _token, secret = services.issue_api_token(
            request.user, form.cleaned_data["name"], form.cleaned_data["expires_in_days"]
        )
        form = ApiTokenForm()
    tokens = ApiToken.objects.visible_to(request.user).order_by("-created")
    return render(request, "accounts/api_tokens.html", {"form": form, "tokens": tokens, "secret": secret})


@login_required
@require_POST
def revoke_api_token(request: HttpRequest, token_id: int) -> HttpResponse:
    services.revoke_api_token(request.user, token_id)
    messages.success(request, _("The token is revoked."))
    return redirect("accounts:api_tokens")


password_reset = auth_views.PasswordResetView.as_view(
    template_name="accounts/password_reset.html",
    email_template_name="accounts/password_reset_email.txt",
    subject_template_name="accounts/password_reset_subject.txt",
    success_url=reverse_lazy("accounts:password_reset_done"),
)
password_reset_done = auth_views.PasswordResetDoneView.as_view(
    template_name="accounts/password_reset_done.html"
)
password_reset_confirm = auth_views.PasswordResetConfirmView.as_view(
    template_name="accounts/password_reset_confirm.html", success_url=reverse_lazy("accounts:login")
)
