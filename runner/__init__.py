"""The composition root: settings, the command line, the web application."""
