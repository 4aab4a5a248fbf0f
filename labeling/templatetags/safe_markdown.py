"""Markdown for text that came from outside: raw HTML is escaped, never passed through."""

from django import template
from django.utils.safestring import mark_safe
from markdown_it import MarkdownIt

register = template.Library()

# commonmark with html=False: any <tag> in the source is rendered as text; markdown-it also
# refuses javascript:/vbscript:/data: link targets.
_md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")


@register.filter(name="markdown")
def markdown(text: str) -> str:
    return mark_safe(_md.render(text or ""))
