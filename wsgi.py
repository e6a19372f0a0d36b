"""WSGI entry point: ``gunicorn wsgi:app`` serves the API configured from the environment."""

from app import create_app

app = create_app()
