"""Standard library only: the code that runs on login hosts (module_utils links here)."""
