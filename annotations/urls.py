from django.urls import path

from annotations.views import (
    admin_area,
    annotate,
    crowd,
    dashboard,
    exports,
    fine_grained,
    fine_grained_results,
    gold,
    invitations,
    pools,
    projects,
    ranking,
    raters,
    reviews,
    system,
)

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
    path("projects/<int:project_id>/fine/results/", fine_grained_results.fine_results,
         name="fine-results"),
    path("projects/<int:project_id>/fine/results/item/", fine_grained_results.fine_item_results,
         name="fine-item-results"),
    path("projects/<int:project_id>/fine/raters/", fine_grained_results.fine_raters,
         name="fine-raters"),
    path("projects/<int:project_id>/fine/refit/", fine_grained_results.fine_refit,
         name="fine-refit"),
]

# k-way ranking tasks (a task shape of pairwise projects) and their settings.
urlpatterns += [
    path("projects/<int:project_id>/rank/", ranking.rank, name="rank"),
    path("projects/<int:project_id>/rank/submit/", ranking.rank_submit, name="rank-submit"),
    path("projects/<int:project_id>/rank/undo/", ranking.rank_undo, name="rank-undo"),
    path("projects/<int:project_id>/rank/settings/", ranking.ranking_settings,
         name="ranking-settings"),
]

# The lead's dashboard: leaderboards, plots and fit runs.
urlpatterns += [
    path("projects/<int:project_id>/dashboard/", dashboard.dashboard, name="project-dashboard"),
    path("projects/<int:project_id>/dashboard/status/", dashboard.dashboard_status,
         name="project-dashboard-status"),
    path("projects/<int:project_id>/dashboard/refit/", dashboard.dashboard_refit,
         name="project-dashboard-refit"),
]

# Dataset exports (leads and reviewers).
urlpatterns += [
    path("projects/<int:project_id>/exports/", exports.project_exports, name="project-exports"),
    path("projects/<int:project_id>/exports/<str:kind>/", exports.project_export,
         name="project-export"),
]

# Rater pools and administration: the management area, a project's raters, gold questions,
# reviews, crowd studies, invitation and crowd entry links, the rater's own quality page.
urlpatterns += [
    path("manage/", admin_area.manage_home, name="manage-home"),
    path("manage/pools/", pools.pool_list, name="pool-list"),
    path("manage/pools/<int:pool_id>/", pools.pool_detail, name="pool-detail"),
    path("manage/pools/<int:pool_id>/members/", pools.pool_member_add_view,
         name="pool-member-add"),
    path("manage/pools/<int:pool_id>/members/<int:user_id>/remove/",
         pools.pool_member_remove_view, name="pool-member-remove"),
    path("manage/invitations/", invitations.invitation_list, name="invitation-list"),
    path("manage/invitations/bulk/", invitations.invitation_bulk, name="invitation-bulk"),
    path("manage/invitations/<int:invitation_id>/revoke/", invitations.invitation_revoke_view,
         name="invitation-revoke"),
    path("manage/raters/", admin_area.rater_list, name="rater-list"),
    path("manage/raters/<int:user_id>/status/", admin_area.rater_global_status,
         name="rater-global-status"),
    path("manage/audit/", admin_area.audit_log, name="audit-log"),
    path("manage/audit/export/", admin_area.audit_export, name="audit-export"),
    path("projects/<int:project_id>/raters/", raters.project_raters, name="project-raters"),
    path("projects/<int:project_id>/raters/<int:user_id>/status/", raters.rater_action,
         {"action": "status"}, name="rater-status"),
    path("projects/<int:project_id>/raters/<int:user_id>/role/", raters.rater_action,
         {"action": "role"}, name="rater-role"),
    path("projects/<int:project_id>/raters/<int:user_id>/exclusion/", raters.rater_action,
         {"action": "exclusion"}, name="rater-exclusion"),
    path("projects/<int:project_id>/caps/", raters.workload_cap, name="workload-cap"),
    path("projects/<int:project_id>/gates/", raters.quality_gate, name="quality-gate"),
    path("projects/<int:project_id>/pools/", raters.project_pool_attach,
         name="project-pool-attach"),
    path("projects/<int:project_id>/pools/<int:pool_id>/detach/", raters.project_pool_detach,
         name="project-pool-detach"),
    path("projects/<int:project_id>/notices/<int:notification_id>/dismiss/",
         raters.notification_dismiss_view, name="notification-dismiss"),
    path("projects/<int:project_id>/gold/", gold.gold_questions, name="gold-questions"),
    path("projects/<int:project_id>/gold/rate/", gold.gold_rate_view, name="gold-rate"),
    path("projects/<int:project_id>/gold/<int:gold_id>/delete/", gold.gold_delete_view,
         name="gold-delete"),
    path("projects/<int:project_id>/reviews/", reviews.review_queue, name="review-queue"),
    path("projects/<int:project_id>/reviews/<int:judgment_id>/", reviews.judgment_review_view,
         name="judgment-review"),
    path("projects/<int:project_id>/crowd/", crowd.crowd_studies, name="crowd-studies"),
    path("invite/<str:token>/", invitations.invitation_accept_view, name="invitation-accept"),
    path("join/<str:token>/", crowd.crowd_join_view, name="crowd-join"),
    path("crowd/<int:study_id>/done/", crowd.crowd_complete, name="crowd-complete"),
    path("me/quality/", raters.my_quality_view, name="my-quality"),
]
