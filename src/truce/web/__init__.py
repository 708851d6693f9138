"""`truce serve`: the web app and REST API both teams use (FastAPI, server-rendered pages)."""
