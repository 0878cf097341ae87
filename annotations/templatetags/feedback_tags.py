from django import template
from django.utils.safestring import SafeString, mark_safe

from annotations.rendering import render_markdown

register = template.Library()


@register.filter(name="markdown")
def markdown_filter(text: str) -> SafeString:
    """Render untrusted markdown; the output is sanitized by an allow-list."""
    return mark_safe(render_markdown(text))


@register.filter
def get_item(mapping: dict, key: str) -> object:
    return mapping.get(key) if mapping else None
