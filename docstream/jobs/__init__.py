"""Background work of a site: pulls, notifications, retries (state lives in the database)."""

from docstream.jobs.worker import BackgroundWorker

__all__ = ["BackgroundWorker"]
