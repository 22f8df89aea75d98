"""Ray Serve application of Walle on Ray; the import path is ``serve_app.app:app``."""
