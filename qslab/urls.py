"""Root URLconf: each app's pages under its own prefix, the API under /api/, i18n switcher."""

from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from qslab.api import api

urlpatterns = [
    path("", include("qslab.portal.urls")),
    path("accounts/", include("qslab.accounts.urls")),
    path("work/", include("qslab.core.urls")),
    path("labs/", include("qslab.labs.urls")),
    path("studies/", include("qslab.studies.urls")),
    path("risk/", include("qslab.risk.urls")),
    path("sharing/", include("qslab.sharing.urls")),
    path("outputs/", include("qslab.outputs.urls")),
    path("designation/", include("qslab.designation.urls")),
    path("supervision/", include("qslab.supervision.urls")),
    path("funding/", include("qslab.funding.urls")),
    path("recalls/", include("qslab.recalls.urls")),
    path("api/", api.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
]

if settings.DEBUG:
    from django.conf.urls.static import static

    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
