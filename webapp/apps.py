from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class WebappConfig(AppConfig):
    default = True
    name = "webapp"


class WorkbenchAdminConfig(admin_apps.AdminConfig):
    default = False
    default_site = "webapp.admin_site.WorkbenchAdminSite"
