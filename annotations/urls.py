from django.urls import path

from annotations.views import annotate, dashboard, fine_grained, projects, system

urlpatterns = [
    path("projects/", projects.project_list, name="project-list"),
    path("projects/new/", projects.project_new, name="project-new"),
    path("projects/<int:project_id>/", projects.project_detail, name="project-detail"),
    path("projects/<int:project_id>/settings/", projects.project_settings,
         name="project-settings"),
    path("projects/<int:project_id>/import/", projects.project_import, name="project-import"),
    path("projects/<int:project_id>/members/", projects.project_member_add_view,
         name="project-member-add"),
    path("projects/<int:project_id>/annotate/", annotate.annotate, name="annotate"),
    path("projects/<int:project_id>/annotate/submit/", annotate.annotate_submit,
         name="annotate-submit"),
    path("projects/<int:project_id>/annotate/undo/", annotate.annotate_undo,
         name="annotate-undo"),
    path("health/", system.health, name="health"),
]

# Fine-grained annotation (spans, ratings) and its results.
urlpatterns += [
    path("projects/<int:project_id>/fine/", fine_grained.fine_annotate, name="fine-annotate"),
    path("projects/<int:project_id>/fine/submit/", fine_grained.fine_submit,
         name="fine-submit"),
    path("projects/<int:project_id>/fine/draft/", fine_grained.fine_draft, name="fine-draft"),
    path("projects/<int:project_id>/fine/settings/", fine_grained.fine_settings,
         name="fine-settings"),
]

# The lead's dashboard: leaderboards, plots and fit runs.
urlpatterns += [
    path("projects/<int:project_id>/dashboard/", dashboard.dashboard, name="project-dashboard"),
    path("projects/<int:project_id>/dashboard/status/", dashboard.dashboard_status,
         name="project-dashboard-status"),
    path("projects/<int:project_id>/dashboard/refit/", dashboard.dashboard_refit,
         name="project-dashboard-refit"),
]
