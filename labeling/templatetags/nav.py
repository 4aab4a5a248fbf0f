"""What the top navigation may offer the signed-in user: links only to pages their role opens."""

from django import template

from labeling.selectors import is_researcher

register = template.Library()


@register.simple_tag(takes_context=True)
def user_is_researcher(context: template.Context) -> bool:
    """True when the user may open the dashboard, training and models (one query, once per request)."""
    request = context.get("request")
    user = context.get("user")
    if user is None or not user.is_authenticated:
        return False
    if request is None:
        return is_researcher(user)
    if not hasattr(request, "_nav_is_researcher"):
        request._nav_is_researcher = is_researcher(user)
    return request._nav_is_researcher
