"""Admin building blocks shared by the enhancement apps."""


class ViewOnlyAdminMixin:
    """For records that are written only by services or jobs (logs, events, attempts):
    operators may look, never add, edit or delete."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
