"""The Flask site for `spear-bench webshop serve` (``app.create_app``)."""
