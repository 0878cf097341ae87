"""Django's admin site, hardened: staff users (``is_staff`` without ``is_superuser``) cannot
raise their own or anyone's privileges.

* Users: the privilege fields (superuser, staff, active, groups, user permissions) are
  read-only for non-superusers, and superusers can only be changed or deleted by superusers.
  Every change of a privilege field is written to the app's audit log.
* Groups carry permissions, so only superusers may create, change or delete them.
* Project memberships are roles: they are managed in the app (audited, last-lead rule), and
  shown read-only here.
* Audit entries are append-only: nobody changes or deletes them here.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from django.http import HttpRequest

from annotations.models import AuditEntry, Item, Membership, PairwiseJudgment, Project
from annotations.services.audit import Actor, audit_record

PRIVILEGE_FIELDS = ("is_superuser", "is_staff", "is_active", "groups", "user_permissions")
User = get_user_model()


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    fields = ["user", "role", "status", "status_reason", "excluded_from_fits"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


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


admin.site.unregister(User)
admin.site.unregister(Group)


@admin.register(User)
class HardenedUserAdmin(UserAdmin):
    def get_readonly_fields(self, request: HttpRequest, obj: object = None) -> tuple[str, ...]:
        readonly = tuple(super().get_readonly_fields(request, obj))
        return readonly if request.user.is_superuser else readonly + PRIVILEGE_FIELDS

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_delete_permission(request, obj)

    def get_actions(self, request: HttpRequest) -> dict[str, object]:
        actions = super().get_actions(request)
        if not request.user.is_superuser:
            actions.pop("delete_selected", None)  # bulk delete would skip the checks above
        return actions

    def save_model(self, request, obj, form, change) -> None:
        stored = User.objects.filter(pk=obj.pk).first() if change else None
        obj._privileges_before = _privileges(stored) if stored else {}
        if stored is not None and not request.user.is_superuser:
            for field in ("is_superuser", "is_staff", "is_active"):
                setattr(obj, field, getattr(stored, field))  # belt and braces
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change) -> None:
        # The admin runs save_model and save_related in one transaction: so does the entry.
        super().save_related(request, form, formsets, change)
        user = form.instance
        before, after = getattr(user, "_privileges_before", {}), _privileges(user)
        if after != before:
            audit_record(actor=Actor.of(request),
                         action="user.privileges", target=user, before=before, after=after)


@admin.register(Group)
class SuperuserOnlyGroupAdmin(GroupAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return request.user.is_superuser

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return request.user.is_superuser


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ["at", "actor_name", "action", "target_type", "target_id", "project_name"]
    list_filter = ["action"]
    search_fields = ["actor_name", "target_label", "project_name"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


def _privileges(user: object) -> dict[str, object]:
    return {"is_superuser": user.is_superuser, "is_staff": user.is_staff,
            "is_active": user.is_active,
            "groups": sorted(user.groups.values_list("name", flat=True)),
            "user_permissions": sorted(user.user_permissions.values_list("codename",
                                                                         flat=True))}
