from django.urls import path

from qslab.sharing import views

app_name = "sharing"

urlpatterns = [
    path("", views.catalogue, name="catalogue"),
    path("available/", views.availability, name="availability"),
    path("resources/<int:resource_id>/", views.resource, name="resource"),
    path("resources/<int:resource_id>/week/", views.resource_week, name="resource_week"),
    path("resources/<int:resource_id>/calendar.ics", views.resource_ics, name="resource_ics"),
    path("resources/<int:resource_id>/edit/", views.resource_edit, name="resource_edit"),
    path("resources/<int:resource_id>/blackouts/new/", views.blackout_create, name="blackout_create"),
    path("resources/<int:resource_id>/qualify/", views.qualify, name="qualify"),
    path("resources/<int:resource_id>/prices/", views.tariffs, name="tariffs"),
    path("resources/<int:resource_id>/book/", views.book, name="book"),
    path("labs/<int:lab_id>/resources/new/", views.resource_create, name="resource_create"),
    path("labs/<int:lab_id>/request/", views.request_create, name="request_create"),
    path("labs/<int:lab_id>/usage/", views.usage, name="usage"),
    path("labs/<int:lab_id>/statement/", views.statement, name="statement"),
    path("bookings/", views.bookings, name="bookings"),
    path("bookings/calendar.ics", views.my_ics, name="my_ics"),
    path("bookings/<int:booking_id>/", views.booking, name="booking"),
    path("bookings/<int:booking_id>/<slug:transition>/", views.booking_transition, name="booking_transition"),
    path("requests/", views.requests, name="requests"),
    path("requests/<int:request_id>/", views.service_request, name="request"),
    path("requests/<int:request_id>/quote/", views.request_quote, name="request_quote"),
    path("requests/<int:request_id>/receive/", views.request_receive, name="request_receive"),
    path("requests/<int:request_id>/custody/", views.request_custody, name="request_custody"),
    path("requests/<int:request_id>/report/", views.request_report, name="request_report"),
    path("requests/<int:request_id>/<slug:transition>/", views.request_transition, name="request_transition"),
    path("invoices/", views.invoices, name="invoices"),
]
