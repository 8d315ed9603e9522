from django.contrib import admin
from django.urls import include, path

from kling_studio.health import HealthView
from kling_studio.metrics import metrics_view

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("teams/", include("accounts.team_urls")),
    path("health/", HealthView.as_view(), name="health"),
    path("metrics", metrics_view, name="metrics"),
    path("", include("generations.urls")),
]
