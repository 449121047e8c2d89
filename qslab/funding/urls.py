from django.urls import path

from qslab.funding import views

app_name = "funding"

urlpatterns = [
    path("", views.budgets, name="budgets"),
    path("new/", views.budget_create, name="budget_create"),
    path("<int:budget_id>/", views.budget, name="budget"),
    path("<int:budget_id>/lines/", views.budget_lines, name="budget_lines"),
    path("<int:budget_id>/targets/", views.budget_targets, name="budget_targets"),
    path("<int:budget_id>/act/<slug:transition>/", views.budget_transition, name="budget_transition"),
    path("<int:budget_id>/execution.svg", views.execution_svg, name="execution_svg"),
    path("<int:budget_id>/import/", views.expenditure_import, name="expenditure_import"),
    path("<int:budget_id>/expenditures/export/", views.expenditure_export, name="expenditure_export"),
    path("<int:budget_id>/evaluation/", views.evaluation, name="evaluation"),
    path(
        "<int:budget_id>/evaluation/act/<slug:transition>/",
        views.evaluation_transition,
        name="evaluation_transition",
    ),
    path("<int:budget_id>/evaluation/adjust/", views.evaluation_adjust, name="evaluation_adjust"),
    path("<int:budget_id>/evaluation/evidence/", views.evidence_upload, name="evidence_upload"),
    path("<int:budget_id>/evaluation/experts/", views.evaluation_experts, name="evaluation_experts"),
    path("evidence/<int:evidence_id>/", views.evidence, name="evidence"),
    path("reviews/", views.reviews, name="reviews"),
    path("flags/<int:flag_id>/answer/", views.flag_answer, name="flag_answer"),
    path("flags/<int:flag_id>/hold/", views.flag_hold, name="flag_hold"),
    path("monitoring/", views.monitoring, name="monitoring"),
    path("reports/", views.report, name="report"),
    path("reports/export/", views.report_export, name="report_export"),
    path("grades/", views.grades, name="grades"),
    path("rules/", views.rules, name="rules"),
    path("allocations/", views.allocations, name="allocations"),
    path("allocations/new/", views.allocation_create, name="allocation_create"),
    path("allocations/<int:run_id>/", views.allocation, name="allocation"),
    path("allocations/<int:run_id>/act/<slug:action>/", views.allocation_action, name="allocation_action"),
    path("allocations/<int:run_id>/amend/", views.allocation_amend, name="allocation_amend"),
    path("allocations/<int:run_id>/allocation.pdf", views.allocation_pdf, name="allocation_pdf"),
]
