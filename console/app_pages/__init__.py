"""One Streamlit page per area, run by the router (console/app.py) by path, never imported."""

__all__ = []
