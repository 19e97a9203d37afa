"""Portal pages, one module per area; ``frontend/urls.py`` wires them with the portal's security headers."""
