"""What people and other systems use: the `ganyun` command line, the Streamlit console, and the
read services (console.services) that both, and the REST API, call."""

__all__ = ["auth", "cli", "i18n", "services"]
