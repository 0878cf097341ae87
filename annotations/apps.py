from django.apps import AppConfig


class AnnotationsConfig(AppConfig):
    name = "annotations"
    verbose_name = "Annotations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Each kind of fit registers itself when its selector module is imported; do it
        # here so every process (web, worker, management commands) knows all kinds.
        from annotations.selectors import fine_grained_fits, fits  # noqa: F401
