"""`centre web`: the Django project nurses, technicians and administrators work in (issue 13)."""
