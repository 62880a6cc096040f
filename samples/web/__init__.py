"""Sample web service: `/health` for liveness, `/` shows one AppConfig value and a redacted
secret read through the config agent."""
