"""The operations a user runs: deploy, status, logs, reproduce."""
