"""The web process never imports torch: import the URLconf and every view module in a fresh interpreter."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import importlib, json, pkgutil, sys
import django
django.setup()
from django.urls import get_resolver
import webapp.urls
resolver = get_resolver()
resolver.url_patterns  # resolves every include()
modules = ["webapp.urls", "webapp.wsgi", "webapp.api"]
for package in ("labeling", "labeling.data", "webapp", "training"):
    pkg = importlib.import_module(package)
    for info in pkgutil.iter_modules(pkg.__path__):
        if info.name.startswith(("views", "data_views", "api", "urls", "admin", "selectors", "services", "forms", "models")):
            modules.append(f"{package}.{info.name}")
loaded = []
for name in modules:
    try:
        importlib.import_module(name)
        loaded.append(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise
heavy = sorted(m for m in ("torch", "transformers", "trl", "peft", "datasets", "accelerate") if m in sys.modules)
print(json.dumps({"loaded": loaded, "heavy": heavy}))
"""


def test_the_web_process_never_imports_torch():
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={"DJANGO_SETTINGS_MODULE": "webapp.settings", "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert "webapp.urls" in result["loaded"] and "labeling.views" in result["loaded"]
    assert result["heavy"] == [], f"web modules pulled in {result['heavy']}"
