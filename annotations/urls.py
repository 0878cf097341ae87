from django.urls import path

from annotations.views import annotate, projects, system

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
