from django.contrib.auth import views as auth_views
from django.urls import path

from accounts import email_views, views
from accounts.forms import ThrottledPasswordResetForm

urlpatterns = [
    path("signup/", views.signup, name="signup"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password_change/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("password_change/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    # Password reset by email, in the studio's pages. The answer to a reset request is the same
    # whether or not an account has the address.
    path(
        "password-reset/",
        auth_views.PasswordResetView.as_view(form_class=ThrottledPasswordResetForm),
        name="password_reset",
    ),
    path("password-reset/sent/", auth_views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path(
        "password-reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path("password-reset/done/", auth_views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
    # One's own address: confirmed or not, sending the link again, and the link itself.
    path("email/", email_views.email_address, name="email_address"),
    path("email/confirm/", email_views.send_confirmation, name="send_email_confirmation"),
    path("email/confirm/<str:token>/", email_views.confirm_email, name="confirm_email"),
]
