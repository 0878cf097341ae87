from django.contrib import admin

from annotations.models import Item, Membership, PairwiseJudgment, Project


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "created_at"]
    search_fields = ["name", "slug"]
    inlines = [MembershipInline]


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin):
    list_display = ["external_id", "project", "group", "source"]
    list_filter = ["project"]
    search_fields = ["external_id", "group", "source"]


@admin.register(PairwiseJudgment)
class PairwiseJudgmentAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "rater", "outcome", "created_at", "undone_at"]
    list_filter = ["project", "outcome"]
    raw_id_fields = ["left_item", "right_item", "assignment"]

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # judgments are a record; change them through the app's services
