"""The HTTP entrypoint: the web application, its routes and request-level guards."""
