"""The REST API (`ganyun api serve`): FastAPI beside the console, reading only through
console/services with a Viewer built from the caller's account, so that an account's scope
applies here exactly as on the console's pages and exports.

`create_app(config)` (app.py) is the one factory: other endpoints (metrics, health) mount on
the app it returns.
"""

__all__ = ["app", "tokens"]
